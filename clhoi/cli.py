"""The ``clhoi`` command: one subcommand per stage, each calling one function.

Nothing imports this module. Heavy imports happen inside the commands so that
``clhoi --help`` is instant. Each subcommand turns a user error into a clear
message and a non-zero exit code, never a traceback.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

app = typer.Typer(
    name="clhoi",
    help="CL-HOI: human-object interaction detection distilled from vision large language models.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


@app.callback()
def _root() -> None:
    """CL-HOI: human-object interaction detection distilled from vision large language models."""


def fail(message: str, code: int = 2) -> None:
    """Print ``error: message`` to stderr and exit with ``code``."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(code)


@app.command()
def version() -> None:
    """Print the clhoi version."""
    from clhoi import __version__

    typer.echo(__version__)


# --- commands are added below, one block per stage -------------------------------------


# --- teacher report ---
@app.command("teacher-report")
def teacher_report_command(
    labels: Annotated[list[Path], typer.Argument(help="labels.jsonl file(s); several give a side-by-side table")],
    annotations: Annotated[Path, typer.Option(help="the dataset's ground-truth annotation file")],
    dataset: Annotated[str, typer.Option(help="hicodet | vcoco | sandbox")] = "hicodet",
    out: Annotated[Path, typer.Option(help="folder for teacher_report.json and the PNG chart")] = Path(
        "teacher_report"
    ),
    name: Annotated[Optional[list[str]], typer.Option(help="display name per label file, in order")] = None,
    top: Annotated[int, typer.Option(help="ground-truth interactions in the chart (Fig. 9: 30)")] = 30,
) -> None:
    """Measure teacher labels against ground-truth HOIs: precision, recall, Fig. 9 chart."""
    from clhoi.report.teacher import teacher_report

    if dataset not in ("hicodet", "vcoco", "sandbox"):
        fail(f"--dataset must be hicodet, vcoco or sandbox, got {dataset!r}")
    if top < 1:
        fail("--top must be at least 1")
    try:
        report, json_path, png_path = teacher_report(labels, dataset, annotations, out, name, top_n=top)
    except (FileNotFoundError, ValueError) as e:
        fail(str(e))
    typer.echo(report.table())
    for q in report.qualities:
        lines = q.to_dict(top_k=5)
        typer.echo(f"\n{q.name}: {q.num_images} images; {q.records_without_gt} records not in the annotations, "
                   f"{q.images_without_labels} annotated images without a record")
        for title, key in (("hallucinated", "hallucinated"), ("missed", "missed")):
            items = ", ".join(f"{d['verb']} {d['object']} ({d['count']})" for d in lines[key]) or "none"
            typer.echo(f"  most {title}: {items}")
        vocab = ", ".join(f"{d['name']} ({d['count']})" for d in lines["open_vocab"]) or "none"
        typer.echo(f"  open-vocabulary verbs: {vocab}")
    typer.echo(f"\nwrote {json_path} and {png_path}")


# --- evaluators ---
@app.command("evaluate")
def evaluate_command(
    dataset: Annotated[str, typer.Option(help="hicodet | vcoco")],
    annotations: Annotated[Path, typer.Option(help="test annotations (HICO-DET: any layout; V-COCO: vcoco_test.json or test_vcoco.json)")],
    predictions: Annotated[Path, typer.Option(help="predictions JSON: a list of {file_name, boxes, labels, hoi} records (docs/evaluation.md)")],
    out: Annotated[Optional[Path], typer.Option(help="write the metrics (and per-class APs) as JSON here")] = None,
    coco_instances: Annotated[Optional[Path], typer.Option(help="COCO instances file (official V-COCO layout only)")] = None,
) -> None:
    """Score HOI predictions with the official HICO-DET or V-COCO protocol (docs/evaluation.md)."""
    from rich.console import Console

    from clhoi.eval.run import DATASETS, evaluate_files, metrics_table

    if dataset not in DATASETS:
        fail(f"--dataset must be one of {', '.join(DATASETS)}, got {dataset!r}")
    try:
        result = evaluate_files(dataset, annotations, predictions, coco_instances, out)
    except (FileNotFoundError, ValueError) as e:
        fail(str(e))
    Console().print(metrics_table(result))
    if out is not None:
        typer.echo(f"wrote {out}")


def main() -> None:
    app()


if __name__ == "__main__":
    main()
