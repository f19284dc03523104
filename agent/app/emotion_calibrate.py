"""``bedside emotion calibrate`` and ``bedside emotion corrections``: QA's corrections, from the
records, into this deployment's calibration (emotion/deployment_calibration.py), and out as a
dataset.

Calibrate reads the newest correction of every corrected segment, holds back the newest calls'
corrections (``--hold-back``, whole calls, so a moment is never judged by exemplars from its own
call), fits on the rest and reports how the readings agree with QA on the held-back part before
and after. Then it fits on every correction and writes the file the emotion service reads
(``emotion.service.calibration_file``; a running service picks it up within seconds). Audited
(``calibrate``)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from emotion.deployment_calibration import (
    DEFAULT_THRESHOLD,
    Agreement,
    Example,
    agreement,
    fit,
)

if TYPE_CHECKING:  # the records layer is imported when a command runs, not when `bedside --help` builds the parser
    from agent.app.config import BedsideConfig
    from agent.services.records.corrections import CorrectedSegment, CorrectedUtterance

EXIT_OK, EXIT_ERROR = 0, 1


def add_parsers(emotion_sub: Any) -> None:
    calibrate = emotion_sub.add_parser(
        "calibrate", help="fit this deployment's calibration from QA's corrections (console review pages) and report "
        "before/after on a held-back part of them")
    calibrate.add_argument("--since", help="only corrections made since (7d, 2026-12-01, ...)")
    calibrate.add_argument("--hold-back", type=float, default=0.25, metavar="SHARE",
                           help="share of the corrected calls, newest first, judged rather than learnt from (default 0.25)")
    calibrate.add_argument("--threshold", type=float, default=DEFAULT_THRESHOLD,
                           help=f"cosine similarity from which a corrected moment pulls one that sounds like it (default {DEFAULT_THRESHOLD})")
    calibrate.add_argument("--out", help="where to write it (default: emotion.service.calibration_file)")
    calibrate.add_argument("--dry-run", action="store_true", help="report, write nothing")
    calibrate.add_argument("--json", action="store_true", help="the report as JSON")
    calibrate.add_argument("--by", help="who runs it, for the audit log (default: the OS user)")
    corrections = emotion_sub.add_parser("corrections", help="export QA's corrections as a dataset (JSON lines)")
    corrections.add_argument("--out", help="file to write (default: stdout)")
    corrections.add_argument("--since", help="only corrections made since (7d, 2026-12-01, ...)")
    corrections.add_argument("--by", help="who exports, for the audit log (default: the OS user)")


def example_of(moment: CorrectedSegment | CorrectedUtterance) -> Example:
    """What QA said, on the models' scales; a burst-only correction keeps the reading's valence."""
    from agent.services.records.corrections import AFFECT_READING

    c = moment.correction
    valence, arousal = (c.model_valence, None) if c.affect is None else AFFECT_READING[c.affect]
    return Example(c.model_valence, c.model_arousal, valence, arousal, c.burst, getattr(moment, "embedding", None), c.call_id)


def held_back_calls(moments: Sequence[CorrectedSegment | CorrectedUtterance], hold_back: float) -> set[str]:
    """The newest ``hold_back`` share of the corrected calls (whole calls); with one call, none."""
    calls = sorted({(m.started_at, m.correction.call_id) for m in moments})
    held = max(1, math.ceil(hold_back * len(calls))) if len(calls) > 1 and hold_back > 0 else 0
    return {call_id for _, call_id in calls[len(calls) - held:]} if held else set()


def run_calibrate(args: argparse.Namespace, config: BedsideConfig) -> int:
    from agent.app.records_cli import RecordsCliError, _staff, open_store
    from agent.services.records.corrections import corrected_segments, corrected_utterances
    from agent.services.records.queries import Via, audit, parse_when
    from agent.services.records.rows import utc_now

    if not 0 <= args.hold_back < 1:
        raise RecordsCliError("--hold-back is a share of the calls: 0 or more, below 1")
    if not 0 < args.threshold < 1:
        raise RecordsCliError("--threshold is a cosine similarity between 0 and 1")
    out = Path(args.out or config.emotion.service.calibration_file or "")
    if not str(out) or str(out) == ".":
        raise RecordsCliError("no file to write: emotion.service.calibration_file is null and --out is not given")
    store = open_store(config.records)
    try:
        since = parse_when(args.since) if args.since else None
        segments = corrected_segments(store, since)
        utterances = corrected_utterances(store, since)
        if not segments and not utterances:
            raise RecordsCliError("no corrections yet: QA marks moments on the console's review pages")
        judged_calls = held_back_calls([*segments, *utterances], args.hold_back)
        learn = [s for s in segments if s.correction.call_id not in judged_calls]
        judged = [s for s in segments if s.correction.call_id in judged_calls]
        words_learn = [example_of(u) for u in utterances if u.correction.call_id not in judged_calls]
        words_judged = [example_of(u) for u in utterances if u.correction.call_id in judged_calls]
        judged_examples = [example_of(s) for s in judged]
        bursts = [s.correction.model_burst for s in judged]
        before = agreement(judged_examples, None, bursts) if judged else None
        after = agreement(judged_examples, fit([example_of(s) for s in learn], args.threshold), bursts) if judged else None
        words_before = agreement(words_judged, None) if words_judged else None
        words_after = agreement(words_judged, fit([], args.threshold, words=words_learn), words=True) if words_judged else None
        calibration = fit([example_of(s) for s in segments], args.threshold, fitted_at=utc_now().isoformat(),
                          words=[example_of(u) for u in utterances])
        if not args.dry_run:
            calibration.save(out)
        audit(store, args.by or _staff(), Via.CLI, "calibrate",
              detail=f"corrections={len(segments)} utterances={len(utterances)} held_back={len(judged) + len(words_judged)} "
                     f"written={not args.dry_run}")
    finally:
        store.dispose()
    report = {
        "corrections": len(segments), "calls": len({m.correction.call_id for m in [*segments, *utterances]}),
        "learnt_from": len(learn), "held_back": len(judged),
        "before": None if before is None else vars(before), "after": None if after is None else vars(after),
        "utterances": len(utterances), "utterances_held_back": len(words_judged),
        "words_before": None if words_before is None else vars(words_before),
        "words_after": None if words_after is None else vars(words_after),
        "valence": {"scale": round(calibration.valence_scale, 4), "offset": round(calibration.valence_offset, 4)},
        "language": {"scale": round(calibration.language_scale, 4), "offset": round(calibration.language_offset, 4)},
        "arousal": {"scale": round(calibration.arousal_scale, 4), "offset": round(calibration.arousal_offset, 4)},
        "exemplars": len(calibration.valences), "threshold": calibration.threshold,
        "written": None if args.dry_run else str(out),
    }
    if args.json:
        print(json.dumps(report))
        return EXIT_OK
    print(f"{report['corrections']} corrected segments and {len(utterances)} corrected utterances from {report['calls']} calls")
    if before is None or after is None:
        print("voice: nothing held back to judge on (one call, or no segments in the newest calls)")
    else:
        print(f"voice, held back (the newest calls): {len(judged)} segments; learnt from the rest: {len(learn)}")
        print(_table(before, after))
    if words_before is not None and words_after is not None:
        print(f"words, held back: {len(words_judged)} utterances; learnt from the rest: {len(words_learn)}")
        print(_table(words_before, words_after))
    print(f"valence x {calibration.valence_scale:.3f} {calibration.valence_offset:+.3f}; arousal x "
          f"{calibration.arousal_scale:.3f} {calibration.arousal_offset:+.3f}; {report['exemplars']} exemplars "
          f"(pull from similarity {calibration.threshold}); words' valence x {calibration.language_scale:.3f} "
          f"{calibration.language_offset:+.3f}")
    print("dry run: nothing written" if args.dry_run else f"written to {out}: a running emotion service picks it up within seconds")
    return EXIT_OK


def _table(before: Agreement, after: Agreement) -> str:
    rows = [("valence error (mean |reading - QA|)", f"{before.valence_error:.3f}", f"{after.valence_error:.3f}"),
            ("on QA's side (negative/neutral/positive)", f"{before.affect_agreement:.0%}", f"{after.affect_agreement:.0%}")]
    if before.burst_agreement is not None and after.burst_agreement is not None:
        rows.append(("bursts as QA said", f"{before.burst_agreement:.0%}", f"{after.burst_agreement:.0%}"))
    width = max(len(r[0]) for r in rows)
    lines = [f"{'':{width}}  before   after"] + [f"{a:{width}}  {b:>6}  {c:>6}" for a, b, c in rows]
    return "\n".join(lines)


def run_export(args: argparse.Namespace, config: BedsideConfig) -> int:
    from agent.app.records_cli import _staff, open_store
    from agent.services.records.corrections import export_corrections
    from agent.services.records.queries import Via, parse_when

    store = open_store(config.records)
    try:
        since = parse_when(args.since) if args.since else None
        rows = export_corrections(store, args.by or _staff(), Via.CLI, since)
        if args.out:
            with open(args.out, "w") as out:
                count = sum(1 for row in rows if out.write(json.dumps(row) + "\n"))
            print(f"{count} corrections written to {args.out}", file=sys.stderr)
        else:
            for row in rows:
                print(json.dumps(row))
    finally:
        store.dispose()
    return EXIT_OK


__all__ = ["add_parsers", "example_of", "held_back_calls", "run_calibrate", "run_export"]
