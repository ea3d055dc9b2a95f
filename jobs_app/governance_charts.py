"""Charts of the governance console (the admin), drawn on the server as SVG by pygal: no script runs in the
page (the content security policy allows none inline) and nothing is fetched from elsewhere."""

from __future__ import annotations

from datetime import date

import pygal
from django.db.models import Sum
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from pygal.etree import etree
from pygal.style import LightStyle

from jobs_app.models import TeamMonthUsage


def _months_back(today: date, months: int) -> list[date]:
    """The first days of the last `months` months, oldest first, this month included."""
    year, month = today.year, today.month
    out = []
    for _ in range(months):
        out.append(date(year, month, 1))
        year, month = (year, month - 1) if month > 1 else (year - 1, 12)
    return out[::-1]


def usage_by_team_and_month(*, months: int = 6, today: date | None = None) -> dict:
    """{"months": [date, ...], "gpu_hours": {team slug: [hours per month]}, "cpu_hours": {...}} over every pool."""
    firsts = _months_back(today or timezone.now().date(), months)
    rows = (
        TeamMonthUsage.objects.filter(month__gte=firsts[0])
        .values("team__slug", "month")
        .annotate(gpu=Sum("gpu_seconds"), cpu=Sum("cpu_seconds"))
        .order_by()
    )
    gpu: dict[str, list[float]] = {}
    cpu: dict[str, list[float]] = {}
    for row in rows:
        i = firsts.index(row["month"]) if row["month"] in firsts else None
        if i is None:
            continue
        gpu.setdefault(row["team__slug"], [0.0] * months)[i] += row["gpu"] / 3600
        cpu.setdefault(row["team__slug"], [0.0] * months)[i] += row["cpu"] / 3600
    return {"months": firsts, "gpu_hours": gpu, "cpu_hours": cpu}


def _bar_chart(title: str, months: list[date], series: dict[str, list[float]]) -> SafeString:
    style = LightStyle(label_font_size=13, major_label_font_size=13, legend_font_size=13, title_font_size=15)
    chart = pygal.StackedBar(
        style=style,
        y_labels_major_count=5,
        show_minor_y_labels=False,
        height=260,
        width=900,
        js=[],  # no script: the page's content security policy refuses inline and foreign scripts
        disable_xml_declaration=True,
        legend_at_bottom=True,
        value_formatter=lambda v: f"{v:,.1f} h",
        title=title,
        x_labels=[f"{m:%b %Y}" for m in months],
    )
    for team, hours in sorted(series.items()):
        chart.add(team, [round(h, 2) for h in hours])
    tree = chart.render_tree()
    for parent in list(tree.iter()):  # pygal still writes its config as an inline script: none is wanted
        for child in [c for c in parent if str(c.tag).endswith("script")]:
            parent.remove(child)
    return mark_safe(etree.tostring(tree, encoding="unicode"))  # the serializer escapes the labels


def usage_charts(*, months: int = 6) -> list[SafeString]:
    """Stacked bars of GPU-hours and CPU-hours per team for the last `months` months; none without usage."""
    usage = usage_by_team_and_month(months=months)
    charts = []
    for key, title in (("gpu_hours", "GPU-hours per team"), ("cpu_hours", "CPU-hours per team")):
        if any(any(v > 0 for v in hours) for hours in usage[key].values()):
            charts.append(_bar_chart(title, usage["months"], usage[key]))
    return charts
