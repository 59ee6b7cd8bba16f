"""The table printed at the end of a run."""

from __future__ import annotations

from typing import Any

from .common import say


def print_report(result: dict[str, Any]) -> None:
    env = result["environment"]
    say("")
    say("=" * 110)
    say(f"Språkvän intake benchmark  {result['started_at']}  tag {result['tag']}")
    say(
        f"machine: {env['cpus']} CPUs, Python {env['python']}, servers: {env['servers']}, "
        f"busy before start: {env.get('machine_busy_pct_before_start')}%"
    )
    say(
        f"NOTE: the load generator, both servers, PostgreSQL and NATS all share these {env['cpus']} cores: absolute "
        "rates are machine-bound, read the ratios."
    )
    http = result.get("http")
    if http:
        cfg = http["config"]
        say("")
        say(
            f"1. POST /participants, registrations/s  (uvicorn, 1 worker each, "
            f"pool {cfg['pool_min']}-{cfg['pool_max']}, "
            f"{cfg['client']} keep-alive clients; rates: median over rounds; latency: pooled)"
        )
        say(
            f"{'clients':>7} | {'baseline/s':>10} {'p50 ms':>7} {'p99 ms':>7} | {'intake/s':>8} {'p50 ms':>7} "
            f"{'p99 ms':>7} | {'ratio':>5}  target     | server CPU ms/req  base -> intake | syscalls/req (r+w)"
        )
        for row in http["summary"]:
            b, i = row["baseline"], row["intake"]
            verdict = "ok" if row["meets_target"] else "MISS"
            say(
                f"{row['clients']:>7} | {b['rps']:>10.1f} {b['p50_ms']:>7.2f} {b['p99_ms']:>7.2f} | {i['rps']:>8.1f} "
                f"{i['p50_ms']:>7.2f} {i['p99_ms']:>7.2f} | {row['ratio']:>5.3f}  >={row['target']} {verdict:<4} | "
                f"{b['server_cpu_ms_per_request']:>13.2f} -> {i['server_cpu_ms_per_request']:.2f} "
                f"({i['server_cpu_ms_per_request'] / max(b['server_cpu_ms_per_request'], 1e-9):.1f}x) | "
                f"{b['server_read_syscalls_per_request'] + b['server_write_syscalls_per_request']:.1f} -> "
                f"{i['server_read_syscalls_per_request'] + i['server_write_syscalls_per_request']:.1f}"
            )
            say(
                f"{'':>7}   CPU % of one core during the runs: baseline server {b['server_cpu_pct']:.0f}, postgres "
                f"{b['postgres_cpu_pct']:.0f}, load generator {b['loadgen_cpu_pct']:.0f}, "
                f"other {b['other_cpu_pct']:.0f}"
                f" | intake server {i['server_cpu_pct']:.0f}, postgres {i['postgres_cpu_pct']:.0f}, nats "
                f"{i['nats_cpu_pct']:.0f}, load generator {i['loadgen_cpu_pct']:.0f}, other {i['other_cpu_pct']:.0f}"
            )
            if i.get("children_cpu_ms_per_request"):
                say(
                    f"{'':>7}   intake's relay process (RELAY_PROCESS): "
                    f"{i['children_cpu_ms_per_request']:.3f} ms CPU/req "
                    f"besides the worker's {i['server_cpu_ms_per_request']:.2f}: "
                    f"{i['server_cpu_ms_per_request'] + i['children_cpu_ms_per_request']:.2f} ms for intake in all"
                )
            say(
                f"{'':>7}   per-round ratios {row['ratio_per_round']}; the other work on the machine per round "
                f"(baseline, intake; % of one core) {row['other_cpu_pct_per_round']}"
            )
            say(
                f"{'':>7}   CPU ratio (baseline's server CPU per request / intake's, the rate ratio of two CPU-bound "
                f"workers; steadier on a busy machine): {row['cpu_ratio']}, per round {row['cpu_ratio_per_round']}"
            )
            say(
                f"{'':>7}   intake's relay during the load: {i['relay_events_per_s_under_load']} events/s published "
                f"vs {i['rps']} registrations/s; when the load stopped: backlog up to {i['outbox_backlog_at_end_max']} "
                f"rows, oldest unpublished event {i['oldest_unpublished_event_age_s_max']} s old, drained "
                f"{i['outbox_drain_after_load_s_max']} s later"
            )
            if i["errors"] or b["errors"]:
                say(f"{'':>7}   ERRORS: baseline {b['errors']}, intake {i['errors']} (see the JSON for samples)")
        for note in http["notes"]:
            say(f"  - {note}")
    relay = result.get("relay")
    if relay:
        s = relay["summary"]
        verdict = "ok" if s["meets_target"] else "MISS"
        say("")
        say(
            f"2. Outbox relay drain vs raw js.publish_async  ({s['events']} events, batch {s['batch_size']}, "
            "same subject/body/headers incl. Nats-Msg-Id; median over rounds)"
        )
        say(
            f"   {'raw events/s':>13} {'relay events/s':>15} | {'ratio':>5}  target     | raw with the relay's "
            f"wait_stall=: events/s, relay ratio to it | CPU ms/event raw -> relay"
        )
        say(
            f"   {s['raw_events_per_s']:>13.1f} {s['relay_events_per_s']:>15.1f} | {s['ratio']:>5.3f}  "
            f">={s['target']} {verdict:<4} | {s['raw_wait_stall_events_per_s']:>26.1f}, "
            f"{s['ratio_vs_raw_wait_stall']:.3f}"
            f"{'':>16} | {s['raw_cpu_ms_per_event']:.3f} -> {s['relay_cpu_ms_per_event']:.3f}"
        )
        say(
            f"   batch p50: raw {s['raw_batch_p50_ms']} ms, relay {s['relay_batch_p50_ms']} ms; relay time: JetStream "
            f"publish {s['relay_publish_share_pct']}%, waiting for claims and finishings "
            f"{s['relay_wait_share_pct']}% (acks awaited in the background {s['relay_ack_wait_share_pct']}%);"
            f" per-round ratios {s['ratio_per_round']}"
        )
    say("")
    say(f"results: {result['json_path']}")
    say("=" * 110)
