"""Microsoft.Maintenance (Azure Update Manager schedules): maintenance configurations,
assignments and the runs their windows start. `timetable` validates a configuration and says
when its windows open; `models`, `responses` and `routes` as in every service."""
