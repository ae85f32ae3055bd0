"""`salesflow ai`: run a scenario, manage prompts, report usage and cost."""

from __future__ import annotations

import asyncio
import json
import re
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

# salesflow.ai stays a module-level import (~30 ms, without an HTTP client: providers load on first use):
# SCENARIOS names the scenarios in the help of `ai run` and DEFAULT_LABEL is an option default.
from salesflow.ai import SCENARIOS, AIError, AIResult, AIRuntime
from salesflow.ai.errors import InvalidPrompt
from salesflow.ai.prompts import DEFAULT_LABEL, prompt_file_versions
from salesflow.cli.db import DbUrl, database
from salesflow.cli.output import fail, print_json, print_table
from salesflow.settings import SettingsError, settings

if TYPE_CHECKING:
    import psycopg

app = typer.Typer(help="The AI orchestrator: scenarios, prompts, usage.", no_args_is_help=True)
prompts_app = typer.Typer(help="The prompt store: versions, labels, tenant overrides.", no_args_is_help=True)
app.add_typer(prompts_app, name="prompts")

LocaleOpt = typer.Option(None, "--locale", help="de or en (default: the tenant's locale).")
TenantOpt = typer.Option(None, "--tenant", help="Tenant id (a tenant's own prompt; default: global).")
JsonOpt = typer.Option(False, "--json", help="Print JSON instead of a table.")


def _uuid(value: str | None, option: str) -> str | None:
    if value is None:
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        fail(f"{option} must be a UUID (got {value!r})")


def _locale(value: str | None) -> str | None:
    if value is not None and value not in ("de", "en"):
        fail(f"--locale must be de or en (got {value!r})")
    return value


def _connect(database_url: str | None) -> psycopg.Connection[Any]:
    import psycopg  # imported here: the command line starts without the database driver

    loc = database(database_url)
    try:
        return psycopg.connect(loc.url)
    except psycopg.OperationalError as exc:
        fail(f"cannot connect to {loc.describe()}: {exc}".strip(), code=1)


def _rpc(conn: psycopg.Connection[Any], function: str, args: dict[str, Any], commit: bool = True) -> Any:
    """Call `public.<function>`; a refusal exits 2 with the database's message (and its hint, e.g. what is
    allowed). With `commit=False` the caller commits, so several calls succeed or fail together."""
    # imported here: the command line starts without the database driver and its pool
    import psycopg

    from salesflow.ai.store_postgres import adapt_argument

    placeholders = ", ".join(f"{k} => %({k})s" for k in args)
    try:
        row = conn.execute(f"select public.{function}({placeholders})", {k: adapt_argument(v) for k, v in args.items()})
        result = row.fetchone()
        if commit:
            conn.commit()
    except psycopg.Error as exc:
        conn.rollback()
        message = exc.diag.message_primary or str(exc)
        fail(f"{message} ({exc.diag.message_hint})" if exc.diag.message_hint else message)
    return result[0] if result else None


@app.command("run")
def run(
    scenario: str = typer.Argument(..., help=f"One of: {', '.join(SCENARIOS)}."),
    lead: str | None = typer.Option(None, "--lead", help="Run on this stored lead."),
    input_json: str | None = typer.Option(None, "--input", help="The scenario's input as JSON (or @file)."),
    tenant: str | None = typer.Option(None, "--tenant", help="Tenant id (default: the lead's tenant)."),
    locale: str | None = LocaleOpt,
    label: str = typer.Option(DEFAULT_LABEL, "--label", help="Prompt label to serve."),
    json_output: bool = JsonOpt,
    database_url: str | None = DbUrl,
) -> None:
    """Run SCENARIO and print the validated result and its usage row(s)."""
    # imported here: the command line starts without the database driver and its pool
    import psycopg

    from salesflow.ai.store_postgres import PostgresAIStore

    if scenario not in SCENARIOS:
        fail(f"unknown scenario {scenario!r}; known scenarios: {', '.join(SCENARIOS)}")
    if (lead is None) == (input_json is None):
        fail("pass exactly one of --lead ID or --input JSON")
    lead_id = _uuid(lead, "--lead")
    tenant_id = _uuid(tenant, "--tenant")
    payload: Any = None
    if input_json is not None:
        text = Path(input_json[1:]).read_text() if input_json.startswith("@") else input_json
        try:
            payload = json.loads(text)
        except json.JSONDecodeError as exc:
            fail(f"--input is not valid JSON: {exc}")
        if not isinstance(payload, dict):
            fail("--input must be a JSON object with the scenario's fields")
        if tenant_id is None:
            fail("--tenant is required with --input")
    loc = database(database_url)
    if tenant_id is None:
        with psycopg.connect(loc.url) as conn:
            row = conn.execute("select tenant_id from public.leads where id = %s", (lead_id,)).fetchone()
        if row is None:
            fail(f"--lead: no lead {lead_id}")
        tenant_id = str(row[0])
    try:
        cfg = settings()
    except SettingsError as exc:
        fail(str(exc))
    runtime = AIRuntime.from_settings(cfg.OPENAI_API_KEY, cfg.OPENAI_BASE_URL)

    async def go() -> AIResult:
        store = PostgresAIStore(loc.url, max_size=2)
        try:
            return await runtime.orchestrator(store).run(
                scenario, tenant_id=tenant_id, input=payload, lead_id=lead_id, locale=_locale(locale),  # type: ignore[arg-type]
                label=label,
            )
        finally:
            await store.close()
            await runtime.aclose()

    try:
        result = asyncio.run(go())
    except AIError as exc:
        fail(str(exc), code=1 if type(exc).__name__ in ("StoreUnavailable", "BudgetExceeded") else 2)
    if json_output:
        print_json(result.to_dict())
        return
    typer.echo(json.dumps(result.output.model_dump(mode="json"), indent=2, ensure_ascii=False))
    typer.echo(
        f"\nprompt {result.prompt_name} v{result.prompt_version} ({result.prompt_locale}, {result.prompt_source}); "
        f"answered by {result.provider}/{result.model}; cost ${result.cost_usd:.6f}"
    )
    print_table(
        ["attempt", "provider", "model", "outcome", "input", "output", "cached", "cost_usd", "latency_ms", "id"],
        [
            (u["attempt"], u["provider"], u["model"], u["outcome"], u["input_tokens"], u["output_tokens"],
             u["cached_tokens"], u["cost_usd"], u["latency_ms"], u["id"])
            for u in result.usage
        ],
    )


@prompts_app.command("list")
def prompts_list(tenant: str | None = TenantOpt, json_output: bool = JsonOpt, database_url: str | None = DbUrl) -> None:
    """Every prompt version (global, plus the tenant's own with --tenant) and its labels."""
    tenant_id = _uuid(tenant, "--tenant")
    with _connect(database_url) as conn:
        cur = conn.execute(
            "select p.name, p.locale, coalesce(p.tenant_id::text, 'global') as scope, p.version, "
            "coalesce(string_agg(l.label, ',' order by l.label), '') as labels, p.created_at "
            "from public.ai_prompts p left join public.ai_prompt_labels l on l.prompt_id = p.id "
            "where p.tenant_id is null or p.tenant_id = %s "
            "group by p.id order by p.name, p.locale, p.tenant_id nulls first, p.version",
            (tenant_id,),
        )
        rows = cur.fetchall()
    if json_output:
        print_json([dict(zip(["name", "locale", "scope", "version", "labels", "created_at"], r, strict=True))
                    for r in rows])
        return
    print_table(["name", "locale", "scope", "version", "labels", "created_at"],
                [(*r[:5], r[5].strftime("%Y-%m-%d %H:%M")) for r in rows])


@prompts_app.command("show")
def prompts_show(
    name: str,
    version: int | None = typer.Option(None, "--version", help="A version (default: the labelled one)."),
    label: str = typer.Option(DEFAULT_LABEL, "--label"),
    locale: str | None = LocaleOpt,
    tenant: str | None = TenantOpt,
    database_url: str | None = DbUrl,
) -> None:
    """Print one prompt version: its messages and model config."""
    tenant_id = _uuid(tenant, "--tenant")
    locale = _locale(locale)
    with _connect(database_url) as conn:
        if version is None:
            prompt = _rpc(conn, "ai_resolve_prompt",
                          {"p_name": name, "p_tenant_id": tenant_id, "p_label": label, "p_locale": locale})
        else:
            row = conn.execute(
                "select jsonb_build_object('name', name, 'version', version, 'locale', locale, "
                "'tenant_id', tenant_id, 'messages', messages, 'model_config', model_config) "
                "from public.ai_prompts where name = %s and version = %s and tenant_id is not distinct from %s "
                "and (%s::text is null or locale = %s) order by locale",
                (name, version, tenant_id, locale, locale),
            ).fetchall()
            if len(row) > 1:
                fail(f"prompt {name!r} has version {version} in {len(row)} locales: pass --locale de|en")
            prompt = row[0][0] if row else None
    if not prompt:
        what = f"version {version}" if version is not None else f"label {label!r}"
        fail(f"no prompt {name!r} with {what}" + (f" for tenant {tenant_id}" if tenant_id else ""), code=1)
    print_json(prompt)


@prompts_app.command("publish")
def prompts_publish(
    file: Path = typer.Argument(..., help="JSON: {name, locale, messages, model_config?, labels?, tenant_id?} "
                                          "or {name, locales: {de: {...}, en: {...}}, labels?}."),
    database_url: str | None = DbUrl,
) -> None:
    """Publish a new version of a prompt (per locale) and attach its labels."""
    try:
        document = json.loads(file.read_text())
    except FileNotFoundError:
        fail(f"{file}: no such file")
    except json.JSONDecodeError as exc:
        fail(f"{file}: not valid JSON: {exc}")
    try:
        versions = prompt_file_versions(document)
    except InvalidPrompt as exc:
        fail(f"{file}: {exc}")
    for v in versions:
        _uuid(v["tenant_id"], "tenant_id")
    with _connect(database_url) as conn:
        # One transaction: a file's locales are published together or not at all (a model the database
        # refuses in one locale leaves the other unpublished too).
        published = [
            _rpc(conn, "ai_publish_prompt", {
                "p_name": v["name"], "p_locale": v["locale"], "p_messages": v["messages"],
                "p_model_config": v["model_config"], "p_tenant_id": v["tenant_id"], "p_labels": v["labels"],
                "p_commit_message": v["commit_message"],
            }, commit=False)
            for v in versions
        ]
        conn.commit()
    for p in published:
        labels = ", ".join(p["labels"]) or "no labels"
        typer.echo(f"published {p['name']} ({p['locale']}) version {p['version']} [{labels}]")


@prompts_app.command("seed")
def prompts_seed(database_url: str | None = DbUrl) -> None:
    """Store the packaged prompts of scenarios that have none yet (version 1, label production).

    Adding a scenario is one module: this puts its German and English prompts into the store.
    """
    with _connect(database_url) as conn:
        have = {(r[0], r[1]) for r in conn.execute(
            "select distinct name, locale from public.ai_prompts where tenant_id is null")}
        conn.commit()
        added = 0
        for name, scenario in SCENARIOS.items():
            for locale, messages in scenario.prompts.items():
                if (name, locale) in have:
                    continue
                _rpc(conn, "ai_publish_prompt", {
                    "p_name": name, "p_locale": locale, "p_messages": [dict(m) for m in messages],
                    "p_model_config": {"temperature": scenario.temperature, "max_tokens": scenario.max_tokens},
                    "p_labels": ["production"], "p_commit_message": "packaged",
                })
                typer.echo(f"seeded {name} ({locale}) version 1 [production]")
                added += 1
    typer.echo(f"{added} prompt(s) seeded")


@prompts_app.command("label")
def prompts_label(
    name: str,
    version: int,
    label: str,
    locale: str | None = LocaleOpt,
    tenant: str | None = TenantOpt,
    database_url: str | None = DbUrl,
) -> None:
    """Point LABEL (e.g. production) at VERSION of prompt NAME."""
    if not re.fullmatch(r"[a-z][a-z0-9_-]{0,39}", label):
        fail(f"LABEL must be lower-case letters, digits, '-' or '_' (got {label!r})")
    tenant_id = _uuid(tenant, "--tenant")
    locale = _locale(locale)
    with _connect(database_url) as conn:
        locales = [r[0] for r in conn.execute(
            "select locale from public.ai_prompts where name = %s and version = %s "
            "and tenant_id is not distinct from %s order by locale", (name, version, tenant_id))]
        if locale is None:
            if len(locales) > 1:
                fail(f"prompt {name!r} has version {version} in {' and '.join(locales)}: pass --locale")
            locale = locales[0] if locales else "de"
        moved = _rpc(conn, "ai_set_prompt_label", {"p_name": name, "p_locale": locale, "p_version": version,
                                                   "p_label": label, "p_tenant_id": tenant_id})
    typer.echo(f"{moved['label']} → {moved['name']} ({moved['locale']}) version {moved['version']}")


@app.command("usage")
def usage(
    tenant: str | None = typer.Option(None, "--tenant", help="Only this tenant."),
    month: str | None = typer.Option(None, "--month", help="YYYY-MM (default: the current month, UTC)."),
    json_output: bool = JsonOpt,
    database_url: str | None = DbUrl,
) -> None:
    """Tokens, cost and calls by scenario and model for a month."""
    tenant_id = _uuid(tenant, "--tenant")
    if month is not None and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", month):
        fail(f"--month must be YYYY-MM (got {month!r})")
    with _connect(database_url) as conn:
        cur = conn.execute(
            """
            with period as (
              select coalesce(to_date(%(month)s, 'YYYY-MM'), date_trunc('month', now() at time zone 'utc')::date)
                as start
            )
            select u.scenario, u.provider, u.model, count(distinct u.call_id) as calls, count(*) as attempts,
                   count(*) filter (where u.outcome not in ('success', 'repaired', 'cache_hit')) as failed,
                   sum(u.input_tokens) as input_tokens, sum(u.output_tokens) as output_tokens,
                   sum(u.cached_tokens) as cached_tokens, coalesce(sum(u.cost_usd), 0) as cost_usd,
                   count(*) filter (where u.cost_usd is null) as unpriced
            from public.ai_usage u, period
            where u.created_at >= period.start and u.created_at < period.start + interval '1 month'
              and (%(tenant)s::uuid is null or u.tenant_id = %(tenant)s::uuid)
            group by u.scenario, u.provider, u.model
            order by u.scenario, cost_usd desc, u.model
            """,
            {"month": month, "tenant": tenant_id},
        )
        names = [d.name for d in cur.description or []]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    if json_output:
        print_json([{**r, "cost_usd": float(r["cost_usd"])} for r in rows])
        return
    print_table(names, [[f"{float(r[n]):.6f}" if n == "cost_usd" else r[n] for n in names] for r in rows])
    total = sum(float(r["cost_usd"]) for r in rows)
    typer.echo(f"{sum(r['calls'] for r in rows)} call(s), ${total:.6f}")


budget_app = typer.Typer(help="Monthly AI budgets per tenant (and optionally per scenario).", no_args_is_help=True)
app.add_typer(budget_app, name="budget")


@budget_app.command("set")
def budget_set(
    tenant: str = typer.Option(..., "--tenant", help="Tenant id."),
    limit: float = typer.Option(..., "--limit", help="Monthly limit in USD (0 stops paid calls)."),
    scenario: str | None = typer.Option(None, "--scenario", help="Only this scenario (default: all together)."),
    at_limit: str = typer.Option("fallback_local", "--at-limit", help="fallback_local or refuse."),
    database_url: str | None = DbUrl,
) -> None:
    """Set (or change) a tenant's monthly AI budget."""
    import psycopg  # imported here: the command line starts without the database driver

    tenant_id = _uuid(tenant, "--tenant")
    if limit < 0:
        fail(f"--limit must be >= 0 (got {limit})")
    if at_limit not in ("fallback_local", "refuse"):
        fail(f"--at-limit must be fallback_local or refuse (got {at_limit!r})")
    if scenario is not None and scenario not in SCENARIOS:
        fail(f"--scenario: unknown scenario {scenario!r}; known scenarios: {', '.join(SCENARIOS)}")
    with _connect(database_url) as conn:
        try:
            conn.execute(
                "insert into public.ai_budgets (tenant_id, scenario, monthly_limit_usd, at_limit) "
                "values (%s, %s, %s, %s) on conflict on constraint ai_budgets_key do update "
                "set monthly_limit_usd = excluded.monthly_limit_usd, at_limit = excluded.at_limit, updated_at = now()",
                (tenant_id, scenario, limit, at_limit),
            )
        except psycopg.errors.ForeignKeyViolation:
            fail(f"--tenant: no tenant {tenant_id}")
    scope = f"scenario {scenario}" if scenario else "all scenarios"
    typer.echo(f"budget of tenant {tenant_id} for {scope}: ${limit:.2f} a month, at the limit: {at_limit}")


@budget_app.command("show")
def budget_show(
    tenant: str | None = typer.Option(None, "--tenant", help="Only this tenant."),
    json_output: bool = JsonOpt,
    database_url: str | None = DbUrl,
) -> None:
    """Budgets with this month's spending and open reservations."""
    tenant_id = _uuid(tenant, "--tenant")
    with _connect(database_url) as conn:
        cur = conn.execute(
            "select b.tenant_id::text as tenant_id, coalesce(b.scenario, '(all)') as scenario, "
            "b.monthly_limit_usd as limit_usd, coalesce(p.spent_usd, 0) as spent_usd, "
            "coalesce(p.reserved_usd, 0) as reserved_usd, b.at_limit, p.exceeded_at "
            "from public.ai_budgets b left join public.ai_budget_periods p on p.tenant_id = b.tenant_id "
            "and p.scenario is not distinct from b.scenario "
            "and p.period = date_trunc('month', now() at time zone 'utc')::date "
            "where %s::uuid is null or b.tenant_id = %s::uuid order by 1, 2",
            (tenant_id, tenant_id),
        )
        names = [d.name for d in cur.description or []]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    if json_output:
        print_json([{**r, **{k: float(r[k]) for k in ("limit_usd", "spent_usd", "reserved_usd")}} for r in rows])
        return
    print_table(names, [[r[n] for n in names] for r in rows])


models_app = typer.Typer(
    help="The operator's allow-list of paid models (ai_models): the only models prompts may name and calls use.",
    no_args_is_help=True,
)
app.add_typer(models_app, name="models")
ProviderOpt = typer.Option("openai", "--provider", help="The provider serving the model.")


def _model_name(model: str, provider: str) -> None:
    if not re.fullmatch(r"[a-z][a-z0-9_-]{0,39}", provider):
        fail(f"--provider must be a lower-case name like 'openai' (got {provider!r})")
    if not model.strip() or len(model) > 200:
        fail("MODEL must be a model name of 1 to 200 characters, as it is requested (e.g. gpt-4o-mini)")


@models_app.command("list")
def models_list(json_output: bool = JsonOpt, database_url: str | None = DbUrl) -> None:
    """The allowed models and the price each is charged at (USD per million tokens)."""
    with _connect(database_url) as conn:
        cur = conn.execute(
            "select a.provider, a.model, pr.model as priced_as, pr.input_usd_per_mtok, "
            "pr.cached_input_usd_per_mtok, pr.output_usd_per_mtok "
            "from public.ai_models a left join lateral private.ai_model_price(a.provider, a.model) pr on true "
            "order by a.provider, a.model"
        )
        names = [d.name for d in cur.description or []]
        rows = [dict(zip(names, r, strict=True)) for r in cur.fetchall()]
    if json_output:
        print_json([{k: float(v) if k.endswith("_mtok") and v is not None else v for k, v in r.items()} for r in rows])
        return
    print_table(names, [["(no price: refused)" if n == "priced_as" and r[n] is None else r[n] for n in names]
                        for r in rows])


@models_app.command("allow")
def models_allow(
    model: str = typer.Argument(..., help="The model name as it is requested, e.g. gpt-4o-mini."),
    provider: str = ProviderOpt,
    input_usd: float | None = typer.Option(None, "--input-usd", help="Price per million input tokens."),
    cached_input_usd: float | None = typer.Option(None, "--cached-input-usd",
                                                  help="Price per million cached input tokens."),
    output_usd: float | None = typer.Option(None, "--output-usd", help="Price per million output tokens."),
    database_url: str | None = DbUrl,
) -> None:
    """Allow MODEL for prompts and calls; with the three prices, (re)price it too. A model needs a price."""
    _model_name(model, provider)
    prices = {"--input-usd": input_usd, "--cached-input-usd": cached_input_usd, "--output-usd": output_usd}
    given = {k: v for k, v in prices.items() if v is not None}
    if given and len(given) < len(prices):
        fail(f"pass all three prices or none; missing: {', '.join(k for k in prices if k not in given)}")
    for option, value in given.items():
        if value < 0:
            fail(f"{option} must be >= 0 USD per million tokens (got {value})")
    with _connect(database_url) as conn:
        if given:
            conn.execute(
                "insert into public.ai_model_prices (provider, model, input_usd_per_mtok, cached_input_usd_per_mtok, "
                "output_usd_per_mtok) values (%s, %s, %s, %s, %s) on conflict (provider, model) do update set "
                "input_usd_per_mtok = excluded.input_usd_per_mtok, cached_input_usd_per_mtok = "
                "excluded.cached_input_usd_per_mtok, output_usd_per_mtok = excluded.output_usd_per_mtok, "
                "updated_at = now()",
                (provider, model, input_usd, cached_input_usd, output_usd),
            )
        price = conn.execute("select pr.model from private.ai_model_price(%s, %s) pr where pr.model is not null",
                             (provider, model)).fetchone()
        if price is None:
            conn.rollback()
            fail(f"model {model!r} ({provider}) has no price in ai_model_prices, so prompts and calls naming it "
                 "would be refused: pass --input-usd, --cached-input-usd and --output-usd (USD per million tokens)")
        conn.execute("insert into public.ai_models (provider, model) values (%s, %s) on conflict do nothing",
                     (provider, model))
        conn.commit()
    typer.echo(f"allowed {provider}/{model}, priced as {price[0]}")


@models_app.command("remove")
def models_remove(
    model: str = typer.Argument(..., help="The model name as it is requested."),
    provider: str = ProviderOpt,
    database_url: str | None = DbUrl,
) -> None:
    """Take MODEL off the allow-list: prompts can no longer name it and calls naming it are refused."""
    _model_name(model, provider)
    with _connect(database_url) as conn:
        removed = conn.execute("delete from public.ai_models where provider = %s and model = %s returning 1",
                               (provider, model)).fetchone()
        if removed is None:
            fail(f"{provider}/{model} is not on the allow-list (see `salesflow ai models list`)")
        labelled = conn.execute(
            "select count(distinct p.id) from public.ai_prompts p join public.ai_prompt_labels l on l.prompt_id = p.id "
            "where p.model_config -> 'models' ? %s", (model,)).fetchone()
        conn.commit()
    typer.echo(f"removed {provider}/{model}")
    if labelled and labelled[0]:
        typer.echo(f"{labelled[0]} labelled prompt version(s) name it: their calls are refused until a version "
                   "with allowed models is published", err=True)
