"""What Windows Update (or a package manager) does on any machine, VM or Arc: the updates it
offers (`releases`) and how an install sorts and applies them (`installs`)."""
