"""The ``azhotpatch`` command line: a skin over the public API, nothing more.

Every command works on resource ids given as arguments, or on an inventory filter
(``--subscription``, ``--resource-group``, ``--tag``...) which turns it into a fleet run with a
plan, progress, a journal and a report. ``--emulator`` runs any command against an embedded
emulator with a generated fleet. ``--output json`` prints machine-readable results.

Exit codes: 0 every machine succeeded; 1 some were skipped as ineligible, none failed;
2 some failed; 64 bad input (nothing was sent); 69 Azure could not be reached or signed in to.
Heavy imports happen inside commands, so ``--help`` answers at once.
"""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, timedelta
from enum import Enum
from typing import TYPE_CHECKING, Annotated, Any

import typer

if TYPE_CHECKING:
    from azhotpatch.client import Hotpatch
    from azhotpatch.fleet.report import Report
    from azhotpatch.testing import Emulator

app = typer.Typer(
    name="azhotpatch",
    help="Bring Windows Server on Azure and Azure Arc into Hotpatch, and keep it patched.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
features_app = typer.Typer(help="Compute preview features.", no_args_is_help=True)
app.add_typer(features_app, name="features")

EXIT_USAGE = 64
EXIT_UNAVAILABLE = 69


class Output(str, Enum):
    table = "table"
    json = "json"


@dataclass
class Settings:
    output: Output
    emulator: str | None
    cloud: str
    endpoint: str | None
    ca_bundle: str | None
    time_scale: float | None
    emulator_url: str | None = None


def _settings(ctx: typer.Context) -> Settings:
    settings: Settings = ctx.obj
    return settings


@app.callback()
def main_options(
    ctx: typer.Context,
    output: Annotated[Output, typer.Option("--output", "-o", help="table or json")] = Output.table,
    emulator: Annotated[
        str | None,
        typer.Option(
            "--emulator",
            help="run against an embedded emulator with this generated fleet "
            "(e.g. sample:300, clean:10000@20)",
        ),
    ] = None,
    cloud: Annotated[str, typer.Option(help="AzureCloud, AzureUSGovernment or AzureChinaCloud")] = (
        "AzureCloud"
    ),
    endpoint: Annotated[str | None, typer.Option(help="Resource Manager URL override")] = None,
    emulator_url: Annotated[
        str | None,
        typer.Option(help="an emulator already serving there (python -m azhotpatch.testing)"),
    ] = None,
    ca_bundle: Annotated[str | None, typer.Option(help="CA bundle to trust (PEM)")] = None,
    time_scale: Annotated[
        float | None,
        typer.Option(
            help="emulator clock speed, Azure seconds per wall second (default 600 with "
            "--emulator; give it with --endpoint when that is an emulator)"
        ),
    ] = None,
) -> None:
    ctx.obj = Settings(output, emulator, cloud, endpoint, ca_bundle, time_scale, emulator_url)


# --- plumbing ---------------------------------------------------------------------------------


@contextmanager
def _client(settings: Settings) -> Iterator[tuple[Hotpatch, Emulator | None]]:
    """A Hotpatch client, against the embedded emulator when asked for."""
    from azhotpatch.client import Hotpatch

    if settings.emulator:
        from azhotpatch.testing import Emulator

        with (
            Emulator(
                fleet=settings.emulator,
                time_scale=settings.time_scale or 600.0,
                record_requests=False,
            ) as emu,
            emu.client() as client,
        ):
            yield client, emu
        return
    if settings.emulator_url:
        with Hotpatch(**_running_emulator(settings)) as client:
            yield client, None
        return
    options: dict[str, Any] = {"cloud": settings.cloud}
    if settings.endpoint:
        options["endpoint"] = settings.endpoint
    if settings.ca_bundle:
        options["connection_verify"] = settings.ca_bundle
    if settings.time_scale:
        options["time_scale"] = settings.time_scale
        options["polling_interval"] = 30.0 / settings.time_scale
    with Hotpatch(**options) as client:
        yield client, None


def _running_emulator(settings: Settings) -> dict[str, Any]:
    """Client options for an emulator in another process: its credential and its clock."""
    import ssl
    import urllib.request

    from azhotpatch.testing import EmulatorCredential

    url = str(settings.emulator_url).rstrip("/")
    context = ssl.create_default_context(cafile=settings.ca_bundle)
    with urllib.request.urlopen(f"{url}/_emulator/info", context=context) as answer:  # noqa: S310
        info = json.load(answer)
    scale = float(settings.time_scale or info["time_scale"])
    return {
        "credential": EmulatorCredential(lifetime=info.get("token_lifetime")),
        "endpoint": url,
        "connection_verify": settings.ca_bundle or True,
        "time_scale": scale,
        "polling_interval": 30.0 / scale,
        "operation_seconds": info.get("operation_seconds"),
    }


def _console(stderr: bool = False) -> Any:
    from rich.console import Console

    return Console(stderr=stderr, highlight=False)


def _emit(settings: Settings, payload: Any, text: Any) -> None:
    """JSON for machines, rich text for people."""
    if settings.output is Output.json:
        sys.stdout.write(json.dumps(payload, indent=2, default=str) + "\n")
    else:
        _console().print(text)


def _fail(error: BaseException) -> typer.Exit:
    """Our errors, printed with their fix, and the exit code a script can act on."""
    from azhotpatch.errors import AuthorizationError, InvalidInputError, TransientError

    _console(stderr=True).print(f"[red]error:[/] {error}")
    if isinstance(error, InvalidInputError):
        return typer.Exit(EXIT_USAGE)
    if isinstance(error, (AuthorizationError, TransientError)):
        return typer.Exit(EXIT_UNAVAILABLE)
    return typer.Exit(2)


def _scope(ids: list[str] | None, filters: Filters, emu: Emulator | None) -> dict[str, Any]:
    """Ids, or an inventory filter (``--tag env=prod``); with the emulator and no filter,
    every subscription it holds."""
    if ids:
        return {"machines": ids}
    management_group = filters.management_group or []
    resource_group = filters.resource_group or []
    location = filters.location or []
    tags: dict[str, str] = {}
    for item in filters.tag or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise typer.BadParameter(f"--tag {item!r} is not key=value")
        tags[key] = value
    subs = list(filters.subscription or [])
    if emu is not None and not subs and not management_group:
        subs = sorted(emu.world.subscriptions)
    if not (subs or management_group or resource_group or location or tags):
        raise typer.BadParameter(
            "give resource ids, or a fleet filter such as --subscription or --resource-group"
        )
    return {
        "subscriptions": subs,
        "management_groups": management_group,
        "resource_groups": resource_group,
        "locations": location,
        "tags": tags,
        "kinds": filters.kind or ["vm", "arc"],
    }


IDS = Annotated[list[str] | None, typer.Argument(help="resource ids (VMs or Arc machines)")]
SUBSCRIPTION = Annotated[
    list[str] | None, typer.Option("--subscription", "-s", help="fleet filter")
]
MANAGEMENT_GROUP = Annotated[
    list[str] | None, typer.Option("--management-group", help="fleet filter")
]
RESOURCE_GROUP = Annotated[
    list[str] | None, typer.Option("--resource-group", "-g", help="fleet filter")
]
LOCATION = Annotated[list[str] | None, typer.Option("--location", "-l", help="fleet filter")]
TAG = Annotated[list[str] | None, typer.Option("--tag", help="fleet filter, key=value")]
KIND = Annotated[list[str] | None, typer.Option("--kind", help="vm or arc (default both)")]


@dataclass
class Filters:
    """The fleet filter options every fleet-capable command takes."""

    subscription: list[str] | None = None
    management_group: list[str] | None = None
    resource_group: list[str] | None = None
    location: list[str] | None = None
    tag: list[str] | None = None
    kind: list[str] | None = None


JOURNAL = Annotated[str | None, typer.Option(help="SQLite journal: a killed run resumes from it")]
CONCURRENCY = Annotated[
    int | None,
    typer.Option(help="cap on machines in flight (default: as many as Azure's limits serve)"),
]


def _fleet(
    ctx: typer.Context,
    actions: list[str],
    scope: dict[str, Any],
    client: Hotpatch,
    *,
    journal: str | None,
    concurrency: int | None,
    install: Any = None,
    retry_failed: bool = False,
) -> Report:
    """Plan, show the plan, run it with a progress bar, and return the report (a journal is
    checked against what is asked before the plan's first request)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from azhotpatch.fleet.plan import Plan

    settings = _settings(ctx)
    progress = Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=_console(stderr=True),
        disable=settings.output is Output.json,
    )
    task = progress.add_task(" + ".join(actions), total=None)

    def planned(plan: Plan) -> None:
        if settings.output is Output.table:
            progress.console.print(plan.summary())
        progress.update(task, total=len(plan.items))

    with progress:
        return client.run(
            actions=actions,
            install=install,
            journal=journal,
            retry_failed=retry_failed,
            concurrency=concurrency,
            on_plan=planned,
            progress=lambda event: progress.update(task, completed=event.done),
            **scope,
        )


def _report(ctx: typer.Context, report: Report) -> None:
    settings = _settings(ctx)
    _emit(settings, report.as_dict(), report.rich_table())
    raise typer.Exit(int(report.exit_code))


# --- single machines or fleets ----------------------------------------------------------------


@app.command()
def check(
    ctx: typer.Context,
    ids: IDS = None,
    subscription: SUBSCRIPTION = None,
    management_group: MANAGEMENT_GROUP = None,
    resource_group: RESOURCE_GROUP = None,
    location: LOCATION = None,
    tag: TAG = None,
    kind: KIND = None,
) -> None:
    """Can these machines take Hotpatch? Every reason, each with its fix."""
    from azhotpatch.errors import HotpatchError

    settings = _settings(ctx)
    try:
        with _client(settings) as (client, emu):
            filters = Filters(subscription, management_group, resource_group, location, tag, kind)
            scope = _scope(ids, filters, emu)
            if "machines" in scope:
                verdicts = [client.check(rid) for rid in scope["machines"]]
                payload = [
                    {
                        "resource": v.resource,
                        "ok": v.ok,
                        "reasons": [
                            {
                                "rule": r.rule.value,
                                "blocking": r.blocking,
                                "message": r.message,
                                "fix": r.fix,
                            }
                            for r in v.reasons
                        ],
                    }
                    for v in verdicts
                ]
                _emit(settings, payload, "\n".join(str(v) for v in verdicts))
                raise typer.Exit(0 if all(v.ok for v in verdicts) else 1)
            plan = client.plan(actions=["enable"], **scope)
            _emit(settings, plan.as_dict(), plan.summary() + "\n\n" + plan.table())
            raise typer.Exit(0 if not plan.skipped else 1)
    except HotpatchError as error:
        raise _fail(error) from None


def _single_or_fleet(
    ctx: typer.Context,
    action: str,
    ids: list[str] | None,
    filters: Filters,
    journal: str | None,
    concurrency: int | None,
    call: Any,
    install: Any = None,
) -> None:
    from azhotpatch.errors import HotpatchError

    settings = _settings(ctx)
    try:
        with _client(settings) as (client, emu):
            scope = _scope(ids, filters, emu)
            if "machines" not in scope or len(scope["machines"]) > 1 or journal:
                report = _fleet(
                    ctx,
                    [action],
                    scope,
                    client,
                    journal=journal,
                    concurrency=concurrency,
                    install=install,
                )
                _report(ctx, report)
            result = call(client, scope["machines"][0])
            _emit(settings, _jsonable(result), str(result))
    except HotpatchError as error:
        raise _fail(error) from None


def _jsonable(value: Any) -> Any:
    from dataclasses import asdict, is_dataclass

    if is_dataclass(value) and not isinstance(value, type):
        return json.loads(json.dumps(asdict(value), default=str))
    return value


@app.command()
def enable(
    ctx: typer.Context,
    ids: IDS = None,
    subscription: SUBSCRIPTION = None,
    management_group: MANAGEMENT_GROUP = None,
    resource_group: RESOURCE_GROUP = None,
    location: LOCATION = None,
    tag: TAG = None,
    kind: KIND = None,
    force: Annotated[
        bool, typer.Option(help="override the region catalog and power state")
    ] = False,
    journal: JOURNAL = None,
    concurrency: CONCURRENCY = None,
) -> None:
    """Enroll machines in Hotpatch (refuses, with the reasons, when they cannot take it)."""
    _single_or_fleet(
        ctx,
        "enable",
        ids,
        Filters(subscription, management_group, resource_group, location, tag, kind),
        journal,
        concurrency,
        lambda client, rid: client.enable(rid, force=force),
    )


@app.command()
def disable(
    ctx: typer.Context,
    ids: IDS = None,
    subscription: SUBSCRIPTION = None,
    management_group: MANAGEMENT_GROUP = None,
    resource_group: RESOURCE_GROUP = None,
    location: LOCATION = None,
    tag: TAG = None,
    kind: KIND = None,
    journal: JOURNAL = None,
    concurrency: CONCURRENCY = None,
) -> None:
    """Turn Hotpatch off (Arc: also stops the license feature's billing)."""
    _single_or_fleet(
        ctx,
        "disable",
        ids,
        Filters(subscription, management_group, resource_group, location, tag, kind),
        journal,
        concurrency,
        lambda client, rid: client.disable(rid),
    )


@app.command()
def assess(
    ctx: typer.Context,
    ids: IDS = None,
    subscription: SUBSCRIPTION = None,
    management_group: MANAGEMENT_GROUP = None,
    resource_group: RESOURCE_GROUP = None,
    location: LOCATION = None,
    tag: TAG = None,
    kind: KIND = None,
    journal: JOURNAL = None,
    concurrency: CONCURRENCY = None,
) -> None:
    """Assess available patches now."""
    _single_or_fleet(
        ctx,
        "assess",
        ids,
        Filters(subscription, management_group, resource_group, location, tag, kind),
        journal,
        concurrency,
        lambda client, rid: client.assess(rid),
    )


@app.command()
def install(
    ctx: typer.Context,
    ids: IDS = None,
    subscription: SUBSCRIPTION = None,
    management_group: MANAGEMENT_GROUP = None,
    resource_group: RESOURCE_GROUP = None,
    location: LOCATION = None,
    tag: TAG = None,
    kind: KIND = None,
    classification: Annotated[
        list[str] | None, typer.Option(help="repeat; default Critical, Security")
    ] = None,
    reboot: Annotated[str, typer.Option(help="IfRequired, Never or Always")] = "IfRequired",
    max_duration: Annotated[int, typer.Option(help="maintenance window, minutes (max 240)")] = 120,
    kb_include: Annotated[list[str] | None, typer.Option(help="repeat")] = None,
    kb_exclude: Annotated[list[str] | None, typer.Option(help="repeat")] = None,
    exclude_kbs_requiring_reboot: Annotated[bool, typer.Option()] = False,
    journal: JOURNAL = None,
    concurrency: CONCURRENCY = None,
) -> None:
    """Install patches now (the request is never sent twice for one machine)."""
    from azhotpatch.errors import HotpatchError
    from azhotpatch.models import InstallOptions

    try:
        options = InstallOptions.build(
            classifications=classification or ("Critical", "Security"),
            reboot=reboot,
            max_duration=timedelta(minutes=max_duration),
            kb_include=kb_include or (),
            kb_exclude=kb_exclude or (),
            exclude_kbs_requiring_reboot=exclude_kbs_requiring_reboot,
        )
    except HotpatchError as error:
        raise _fail(error) from None
    _single_or_fleet(
        ctx,
        "install",
        ids,
        Filters(subscription, management_group, resource_group, location, tag, kind),
        journal,
        concurrency,
        lambda client, rid: client.install(rid, options=options),
        install=options,
    )


@app.command()
def status(
    ctx: typer.Context,
    ids: IDS = None,
    scheduled: Annotated[
        bool, typer.Option("--scheduled", help="last and next Update Manager runs instead")
    ] = False,
    subscription: SUBSCRIPTION = None,
    management_group: MANAGEMENT_GROUP = None,
    resource_group: RESOURCE_GROUP = None,
    location: LOCATION = None,
    tag: TAG = None,
    kind: KIND = None,
) -> None:
    """Enrollment, the platform's verdict and the last assessment and installation; with
    --scheduled, the last and next scheduled runs per configuration and machine."""
    from azhotpatch.errors import HotpatchError

    settings = _settings(ctx)
    try:
        with _client(settings) as (client, emu):
            if scheduled:
                filters = Filters(
                    subscription, management_group, resource_group, location, tag, kind
                )
                found = client.scheduled_status(**_scope(ids, filters, emu))
                _emit(settings, found.as_dict(), found.summary())
                raise typer.Exit(0 if not found.unscheduled else 1)
            if not ids:
                raise typer.BadParameter("give resource ids, or --scheduled with a fleet filter")
            results = [client.status(rid) for rid in ids]
            _emit(
                settings,
                [_jsonable(r) for r in results],
                "\n".join(_describe_status(r) for r in results),
            )
    except HotpatchError as error:
        raise _fail(error) from None


@app.command()
def schedule(
    ctx: typer.Context,
    ids: IDS = None,
    config_group: Annotated[
        str,
        typer.Option(
            help="resource group id for the maintenance configurations "
            "(/subscriptions/<id>/resourceGroups/<name>)"
        ),
    ] = "",
    config_location: Annotated[str, typer.Option(help="region for the configurations")] = "",
    mode: Annotated[str, typer.Option(help="split (baseline + hotpatch months) or single")] = (
        "split"
    ),
    time_zone: Annotated[str, typer.Option(help="Windows time zone id, e.g. 'UTC'")] = "UTC",
    start_time: Annotated[str, typer.Option(help="window start, HH:MM local")] = "03:00",
    days_after_patch_tuesday: Annotated[int, typer.Option(help="0-6")] = 1,
    hotpatch_window: Annotated[int, typer.Option(help="minutes, 90-235")] = 120,
    baseline_window: Annotated[int, typer.Option(help="minutes, 90-235")] = 210,
    assign_by: Annotated[str, typer.Option(help="machines or dynamic")] = "machines",
    conflicts: Annotated[str, typer.Option(help="skip, fix or assign")] = "skip",
    dry_run: Annotated[bool, typer.Option(help="show what would change; write nothing")] = False,
    subscription: SUBSCRIPTION = None,
    management_group: MANAGEMENT_GROUP = None,
    resource_group: RESOURCE_GROUP = None,
    location: LOCATION = None,
    tag: TAG = None,
    kind: KIND = None,
) -> None:
    """Put machines on Azure Update Manager schedules that follow the Hotpatch calendar."""
    from azhotpatch.errors import HotpatchError

    settings = _settings(ctx)
    try:
        with _client(settings) as (client, emu):
            filters = Filters(subscription, management_group, resource_group, location, tag, kind)
            scope = _scope(ids, filters, emu)
            group = config_group or _emulator_group(emu)
            report = client.schedule(
                resource_group=group,
                location=config_location or _emulator_location(emu),
                mode=mode,
                time_zone=time_zone,
                start_time=start_time,
                days_after_patch_tuesday=days_after_patch_tuesday,
                hotpatch_window=timedelta(minutes=hotpatch_window),
                baseline_window=timedelta(minutes=baseline_window),
                assign_by=assign_by,
                conflicts=conflicts,
                dry_run=dry_run,
                **scope,
            )
            if settings.output is Output.table:
                for row in report.extra["configurations"]:
                    _console().print(
                        f"{row['name']:<24} {row['change']:<9} {row['recur_every']:<32} "
                        f"{row['duration']} {row['time_zone']}  next {row['next_run']}"
                    )
            _report(ctx, report)
    except HotpatchError as error:
        raise _fail(error) from None


def _emulator_location(emu: Emulator | None) -> str:
    if emu is None:
        raise typer.BadParameter("--config-location is required (e.g. westeurope)")
    return "westeurope"


def _emulator_group(emu: Emulator | None) -> str:
    """The embedded emulator's first resource group; real Azure needs --config-group."""
    if emu is None:
        raise typer.BadParameter("--config-group is required (a resource group id)")
    sub = sorted(emu.world.subscriptions)[0]
    group = sorted(emu.world.subscriptions[sub].group_names.values())[0]
    return f"/subscriptions/{sub}/resourceGroups/{group}"


def _describe_status(status: Any) -> str:
    def summary(s: Any) -> str:
        if s is None:
            return "none"
        counts = ", ".join(f"{k} {v}" for k, v in s.counts.items() if v)
        return f"{s.status.value} {s.started:%Y-%m-%d %H:%M}" + (f" ({counts})" if counts else "")

    return (
        f"{status.resource}\n  enrollment {status.enrollment.value}"
        f"{' (' + status.enablement_status + ')' if status.enablement_status else ''}\n"
        f"  last assessment: {summary(status.last_assessment)}\n"
        f"  last installation: {summary(status.last_installation)}"
    )


@app.command()
def plan(
    ctx: typer.Context,
    ids: IDS = None,
    subscription: SUBSCRIPTION = None,
    management_group: MANAGEMENT_GROUP = None,
    resource_group: RESOURCE_GROUP = None,
    location: LOCATION = None,
    tag: TAG = None,
    kind: KIND = None,
    actions: Annotated[str, typer.Option(help="comma-separated")] = "enable,assess,install",
    csv: Annotated[bool, typer.Option("--csv", help="CSV instead of a table")] = False,
) -> None:
    """What a run would do, machine by machine, and why; changes nothing."""
    from azhotpatch.errors import HotpatchError

    settings = _settings(ctx)
    try:
        with _client(settings) as (client, emu):
            filters = Filters(subscription, management_group, resource_group, location, tag, kind)
            scope = _scope(ids, filters, emu)
            the_plan = client.plan(actions=actions.split(","), **scope)
            if csv:
                sys.stdout.write(the_plan.to_csv())
                return
            _emit(settings, the_plan.as_dict(), the_plan.summary() + "\n\n" + the_plan.table())
    except HotpatchError as error:
        raise _fail(error) from None


@app.command()
def run(
    ctx: typer.Context,
    ids: IDS = None,
    subscription: SUBSCRIPTION = None,
    management_group: MANAGEMENT_GROUP = None,
    resource_group: RESOURCE_GROUP = None,
    location: LOCATION = None,
    tag: TAG = None,
    kind: KIND = None,
    actions: Annotated[str, typer.Option(help="comma-separated")] = "enable,assess,install",
    journal: JOURNAL = None,
    concurrency: CONCURRENCY = None,
    retry_failed: Annotated[
        bool,
        typer.Option(
            "--retry-failed",
            help="with --journal: attempt the machines that ended failed again, from the "
            "step that failed, reading Azure's state first",
        ),
    ] = False,
) -> None:
    """Plan and run a fleet: enable, assess and install, paced to Azure's limits."""
    from azhotpatch.errors import HotpatchError

    settings = _settings(ctx)
    try:
        with _client(settings) as (client, emu):
            filters = Filters(subscription, management_group, resource_group, location, tag, kind)
            scope = _scope(ids, filters, emu)
            report = _fleet(
                ctx,
                actions.split(","),
                scope,
                client,
                journal=journal,
                concurrency=concurrency,
                retry_failed=retry_failed,
            )
            _report(ctx, report)
    except HotpatchError as error:
        raise _fail(error) from None


@features_app.command("register")
def features_register(
    ctx: typer.Context,
    subscription: Annotated[str, typer.Argument(help="subscription id")],
    wait: Annotated[bool, typer.Option(help="wait until registered")] = True,
    timeout: Annotated[int, typer.Option(help="minutes to wait")] = 20,
) -> None:
    """Register the Compute preview features and re-register Microsoft.Compute."""
    from azhotpatch.errors import HotpatchError

    settings = _settings(ctx)
    try:
        with _client(settings) as (client, _):
            result = client.register_preview_features(
                subscription, wait=wait, timeout=timedelta(minutes=timeout)
            )
            text = "\n".join(f"{f.name}: {f.state}" for f in result.features)
            text += f"\nMicrosoft.Compute: {result.provider_state}"
            _emit(settings, _jsonable(result), text)
    except HotpatchError as error:
        raise _fail(error) from None


# --- no Azure needed ---------------------------------------------------------------------------


@app.command("calendar")
def show_calendar(
    ctx: typer.Context,
    year: Annotated[int | None, typer.Argument(help="default: this year")] = None,
    unplanned: Annotated[
        list[str] | None, typer.Option(help="YYYY-MM of an unplanned baseline")
    ] = None,
) -> None:
    """The Hotpatch year: baseline (B), hotpatch (H) and unplanned baseline (U) months."""
    from azhotpatch import calendar
    from azhotpatch.errors import HotpatchError

    settings = _settings(ctx)
    try:
        plan = calendar.year_plan(year or date.today().year, unplanned=unplanned or [])
        coming = calendar.next_release(date.today(), unplanned=unplanned or [])
    except HotpatchError as error:
        raise _fail(error) from None
    payload = {
        "year": plan.year,
        "months": [
            {
                "month": r.month,
                "kind": r.kind.value,
                "patch_tuesday": r.date.isoformat(),
                "reboot": r.reboot_required,
            }
            for r in plan.months
        ],
        "reboot_months": plan.reboot_months,
        "next_release": str(coming),
    }
    text = (
        f"{plan.render_text()}\n{plan.reboot_months} reboot months, "
        f"{plan.hotpatch_months} hotpatch months; next release {coming}"
    )
    _emit(settings, payload, text)


@app.command()
def cost(
    ctx: typer.Context,
    cores: Annotated[int, typer.Option(help="cores to license")],
    start: Annotated[str, typer.Option(help="YYYY-MM-DD")],
    end: Annotated[str, typer.Option(help="YYYY-MM-DD, exclusive")],
    kind: Annotated[str, typer.Option(help="arc or vm")] = "arc",
) -> None:
    """Hotpatch cost for a date range, from the dated price table."""
    from azhotpatch import pricing
    from azhotpatch.errors import HotpatchError

    settings = _settings(ctx)
    try:
        estimate = pricing.estimate(
            cores, _date(start, "start"), _date(end, "end"), kind=_machine_kind(kind)
        )
    except HotpatchError as error:
        raise _fail(error) from None
    _emit(settings, estimate.as_dict(), str(estimate))


def _machine_kind(text: str) -> Any:
    from azhotpatch.ids import MachineKind

    try:
        return MachineKind(text.lower())
    except ValueError:
        raise typer.BadParameter(f"--kind {text!r} is not arc or vm") from None


def _date(text: str, name: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(f"{name} {text!r} is not YYYY-MM-DD") from None


@app.command("emulator")
def serve_emulator(
    port: Annotated[int, typer.Option()] = 8443,
    fleet: Annotated[str | None, typer.Option(help="e.g. sample:200")] = "sample:200",
    time_scale: Annotated[float, typer.Option()] = 60.0,
    seed: Annotated[int, typer.Option()] = 0,
    faults: Annotated[float, typer.Option(help="share of requests hit by faults")] = 0.0,
    ca_path: Annotated[str, typer.Option()] = "azhotpatch-emulator-ca.pem",
) -> None:
    """Serve the Azure emulator (same as python -m azhotpatch.testing)."""
    from azhotpatch.testing.__main__ import main

    arguments = [
        "--port",
        str(port),
        "--time-scale",
        str(time_scale),
        "--seed",
        str(seed),
        "--faults",
        str(faults),
        "--ca-path",
        ca_path,
    ]
    if fleet:
        arguments += ["--fleet", fleet]
    raise typer.Exit(main(arguments))


@app.command()
def demo(
    ctx: typer.Context,
    fleet: Annotated[str, typer.Option(help="generated fleet")] = "sample:300@3",
    journal: JOURNAL = None,
) -> None:
    """The whole job against an embedded emulator: inventory, plan, enable, assess, install,
    and the report, in well under a minute."""
    from azhotpatch import calendar

    settings = _settings(ctx)
    settings.emulator = settings.emulator or fleet
    console = _console()
    with _client(settings) as (client, emu):
        assert emu is not None
        if settings.output is Output.table:
            console.rule("azhotpatch demo: a fleet on the embedded Azure emulator")
            year = calendar.year_plan(date.today().year)
            console.print(
                f"Hotpatch calendar {year.render_text()}  ({year.reboot_months} reboot months)"
            )
        scope = _scope(None, Filters(), emu)
        report = _fleet(
            ctx,
            ["enable", "assess", "install"],
            scope,
            client,
            journal=journal,
            concurrency=None,
        )
        if settings.output is Output.table:
            stats = emu.stats()
            console.print(
                f"emulator: {stats.requests} requests served, "
                f"{stats.throttled_total} throttled, "
                f"{stats.machines_with_repeat_installs} machines installed twice"
            )
        _report(ctx, report)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
