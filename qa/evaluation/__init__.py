"""The evaluation behind `qa eval`: gold questions in, per-question results and a report out.

gold (the JSONL format), squad (a corpus and gold set from a SQuAD file), baseline
(llama-index out of the box), metrics (scoring one answer, summing up a run),
calibrate (the refusal-threshold sweep), run (ingest, ask, score), report and plots
(results.json, report.md, PNGs), cli (the command line).
"""
