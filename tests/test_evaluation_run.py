"""`qa eval` end to end on the seeds gold set (and a tiny SQuAD file), writing only under tmp_path."""

import json
from pathlib import Path

import pytest

from qa.eval import main

REPO = Path(__file__).resolve().parents[1]


def tiny_squad(path: Path) -> Path:
    articles = [
        {"title": f"https://example.com/{a}", "paragraphs": [{
            "context": f"The harbour of Port{a} opened in 18{a}0. Its first ship was called Gull{a}.",
            "qas": [{"id": f"{a}", "question": f"When did the harbour of Port{a} open?",
                     "answers": [{"text": f"18{a}0", "answer_start": 0}]}],
        }]}
        for a in range(4)
    ]
    path.write_text(json.dumps({"data": articles}), encoding="utf-8")
    return path


@pytest.mark.slow
def test_eval_writes_results_report_and_plots_and_holds_the_floor(tmp_path, capsys, seeds_engine):
    out = tmp_path / "out"
    code = main(["--gold", str(REPO / "eval" / "seeds_gold.jsonl"), "--corpus", str(REPO / "seeds"),
                 "--out", str(out), "--min-accuracy", "1.01", "--calibrate",
                 "--squad", str(tiny_squad(tmp_path / "squad.json")), "--squad-sample", "3", "--squad-articles", "4"])

    assert code == 1
    assert "below --min-accuracy 1.01" in capsys.readouterr().err
    results = json.loads((out / "results.json").read_text(encoding="utf-8"))
    seeds = results["datasets"]["seeds"]
    assert set(seeds["systems"]) == {"qa", "llama-index baseline"}
    ours = seeds["systems"]["qa"]
    assert len(ours["items"]) == 79 and 0 < ours["summary"]["accuracy"] < 1
    first = ours["items"][0]
    assert {"id", "kind", "question", "answer", "refused", "citations", "passages", "correct", "f1",
            "latency_ms"} <= set(first)
    assert seeds["calibration"] and results["datasets"]["squad"]["systems"]["qa"]["summary"]["questions"] == 3

    report = (out / "report.md").read_text(encoding="utf-8")
    for heading in ("## seeds", "### Summary", "### Refusal threshold calibration", "### Failures: qa", "## squad"):
        assert heading in report
    for plot in ("seeds-accuracy-by-kind.png", "seeds-latency.png", "squad-accuracy-by-kind.png", "squad-latency.png"):
        assert (out / plot).stat().st_size > 1000
        assert f"({plot})" in report
    assert (out / "index" / "seeds").is_dir()  # its own index, not the user's

    # The eval's answers are what a user gets from the engine for the same questions.
    by_id = {item["id"]: item for item in ours["items"]}
    assert by_id["seeds-001"]["answer"] == seeds_engine.ask(by_id["seeds-001"]["question"]).text
    followup = by_id["seeds-075"]
    conversation = seeds_engine.conversation()
    for earlier in followup["history"]:
        conversation.ask(earlier)
    assert followup["answer"] == conversation.ask(followup["question"]).text


def test_a_bad_gold_file_stops_before_any_work(tmp_path, capsys):
    gold = tmp_path / "gold.jsonl"
    gold.write_text('{"id": "q1"}\n', encoding="utf-8")
    assert main(["--gold", str(gold), "--out", str(tmp_path / "out")]) == 2
    assert f"{gold} line 1: missing kind, question, answerable" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()
