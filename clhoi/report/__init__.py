"""Teacher-label quality reports (issue 7; the paper's appendix A.5 / Fig. 9 and Table 5 as a tool).

``teacher_report`` reads label files and a dataset's ground truth and writes a
JSON of all figures and the Fig. 9 chart; ``compare`` does the measuring on
objects in memory.
"""

from clhoi.report.quality import LabelQuality, PRCount, label_quality
from clhoi.report.space import ReportSpace, normalize_verb, report_space
from clhoi.report.teacher import TeacherReport, compare, teacher_report

__all__ = [
    "LabelQuality",
    "PRCount",
    "ReportSpace",
    "TeacherReport",
    "compare",
    "label_quality",
    "normalize_verb",
    "report_space",
    "teacher_report",
]
