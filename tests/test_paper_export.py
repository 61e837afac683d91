"""The "paper" export preset: SVG and PDF vector with text as text, PNG at 300 dpi at a column width in cm.

Rendering needs kaleido and Debian's chromium (skipped with the reason where they are absent); PDFs are checked
with poppler's pdftoppm / pdftotext / pdfinfo.
"""

from __future__ import annotations

import argparse
import json
import shutil
import struct
import subprocess

import pandas as pd
import pytest

from analysis import export
from analysis.cli._common import add_preset_arguments, preset_options
from analysis.errors import ConfigError
from analysis.plots import corpus as PC


def _figure():
    counts = pd.DataFrame({"label": ["alpha", "bravo", "charlie"], "occurrences": [12, 30, 7]})
    return PC.plot_counts(counts, column="label", title="Occurrences per label")


def _static_or_skip():
    ok, reason = export.static_export_available()
    if not ok:
        pytest.skip(reason)


def _png_size(data: bytes) -> tuple[int, int]:
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", data[16:24])


def _png_dpi(data: bytes) -> float | None:
    i = data.find(b"pHYs")
    if i < 0:
        return None
    ppm_x, _, unit = struct.unpack(">IIB", data[i + 4:i + 13])
    return ppm_x * 0.0254 if unit == 1 else None


# ------------------------------------------------------------------------------------------------ style, no Chrome
def test_paper_style_is_white_without_grid_or_title_and_in_one_font():
    spec = export.PaperSpec(width_cm=8.5, font_family="'DejaVu Serif', serif", font_size_pt=9)
    layout = export.paper_figure(_figure(), spec).to_plotly_json()["layout"]
    assert layout["paper_bgcolor"] == "white" and layout["plot_bgcolor"] == "white"
    assert layout["xaxis"]["showgrid"] is False and layout["yaxis"]["showgrid"] is False
    assert not (layout.get("title") or {}).get("text")
    assert layout["font"]["family"] == "'DejaVu Serif', serif"
    assert layout["font"]["size"] == pytest.approx(12.0)  # 9 pt at 96 CSS px per inch
    assert layout["width"] == pytest.approx(8.5 / 2.54 * 96)
    assert layout["xaxis"]["title"]["text"] == "label"  # the axis titles stay


def test_the_screen_figure_is_left_as_it_was():
    fig = _figure()
    before = fig.to_json()
    export.paper_figure(fig)
    assert fig.to_json() == before


@pytest.mark.parametrize("bad", [dict(width_cm=1), dict(width_cm=80), dict(font_size_pt=40),
                                 dict(font_family="x</style>"), dict(height_cm=0.5)])
def test_bad_paper_settings_are_one_line_config_errors(bad):
    with pytest.raises(ConfigError):
        export.PaperSpec(**bad)


def test_unknown_preset_and_format_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match="preset"):
        export.save_figure(_figure(), tmp_path, "f", {}, preset="poster")
    with pytest.raises(ConfigError, match="tiff"):
        export.parse_formats("png,tiff")
    assert export.parse_formats("svg, PDF") == ("svg", "pdf")


def test_png_resolution_chunk_is_written_and_replaced():
    import zlib

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body) & 0xFFFFFFFF)

    png = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 6, 0, 0, 0))
           + chunk(b"pHYs", struct.pack(">IIB", 2835, 2835, 1)) + chunk(b"IEND", b""))
    out = export.png_with_dpi(png, 300)
    assert _png_dpi(out) == pytest.approx(300, abs=0.01) and out.count(b"pHYs") == 1
    assert _png_size(out) == (2, 2) and out.endswith(chunk(b"IEND", b""))


def test_cli_preset_options():
    parser = argparse.ArgumentParser()
    add_preset_arguments(parser)
    assert preset_options(parser.parse_args([]), formats=("html",)) == {"preset": "screen", "formats": ("html",)}
    opts = preset_options(parser.parse_args(["--preset", "paper", "--width-cm", "17.4", "--font", "DejaVu Serif"]),
                          formats=("html",))
    assert opts["preset"] == "paper" and opts["width_cm"] == 17.4 and opts["font_family"] == "DejaVu Serif"
    assert opts["formats"] == ("svg", "pdf", "png")  # html only was the subcommand's default, not a paper format
    assert preset_options(parser.parse_args(["--preset", "paper"]), formats=("png",))["formats"] == ("png",)
    with pytest.raises(ConfigError, match="width"):
        preset_options(parser.parse_args(["--preset", "paper", "--width-cm", "0.5"]))
    with pytest.raises(SystemExit):
        parser.parse_args(["--preset", "poster"])


# -------------------------------------------------------------------------------------------------- rendered files
@pytest.mark.parametrize("width_cm", [8.5, 17.4])
def test_paper_png_is_300_dpi_at_the_column_width(width_cm):
    _static_or_skip()
    data = export.paper_image(_figure(), "png", export.PaperSpec(width_cm=width_cm))
    width, height = _png_size(data)
    assert width == round(width_cm / 2.54 * 300)
    assert 0.3 * width < height < 1.7 * width
    assert _png_dpi(data) == pytest.approx(300, abs=0.01)


def test_save_figure_paper_writes_vector_svg_and_pdf_and_a_png(tmp_path):
    _static_or_skip()
    for tool in ("pdftoppm", "pdftotext", "pdfinfo"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} (poppler-utils) is not installed")
    res = export.save_figure(_figure(), tmp_path, "counts", {"target": "plane_nn"}, preset="paper", width_cm=8.5,
                             font_family="'DejaVu Sans', sans-serif")
    assert not res["skipped"]
    assert sorted(p.rsplit(".", 1)[1] for p in res["written"]) == ["pdf", "png", "svg"]

    pdf = tmp_path / "counts.pdf"
    subprocess.run(["pdftoppm", "-png", "-r", "72", str(pdf), str(tmp_path / "page")], check=True,
                   capture_output=True)
    assert list(tmp_path.glob("page*.png")), "pdftoppm rendered no page"
    text = subprocess.run(["pdftotext", str(pdf), "-"], check=True, capture_output=True, text=True).stdout
    assert "bravo" in text and "occurrences" in text  # a tick label and an axis title are text, not pixels
    info = subprocess.run(["pdfinfo", str(pdf)], check=True, capture_output=True, text=True).stdout
    width_pt = float(info.split("Page size:")[1].split("x")[0])
    assert width_pt == pytest.approx(8.5 / 2.54 * 72, abs=1.0)

    svg = (tmp_path / "counts.svg").read_text()
    assert "<text" in svg and "bravo" in svg and "<path" in svg
    assert "<image" not in svg  # vector, not an embedded raster
    assert _png_size((tmp_path / "counts.png").read_bytes())[0] == round(8.5 / 2.54 * 300)

    manifest = json.loads((tmp_path / "counts.manifest.json").read_text())
    assert manifest["parameters"]["export"]["preset"] == "paper"
    assert manifest["parameters"]["export"]["width_cm"] == 8.5 and manifest["parameters"]["target"] == "plane_nn"


def test_screen_preset_is_unchanged(tmp_path):
    res = export.save_figure(_figure(), tmp_path, "counts", {}, formats=("html",))
    assert res["written"] == [str(tmp_path / "counts.html")]
    assert json.loads((tmp_path / "counts.manifest.json").read_text())["parameters"]["export"] == {"preset": "screen"}


def test_figure_widget_offers_the_paper_preset():
    from streamlit.testing.v1 import AppTest

    def page():
        import pandas as pd

        from analysis.plots import corpus as PC
        from ui import widgets

        counts = pd.DataFrame({"label": ["alpha", "bravo"], "occurrences": [1, 2]})
        widgets.figure(PC.plot_counts(counts, column="label"), name="counts", params={}, key="fig_counts")

    at = AppTest.from_function(page, default_timeout=60)
    at.run()
    assert not at.exception
    style = at.selectbox(key="fig_counts_style")
    assert set(style.options) >= {"Paper, 8.5 cm (single column)", "Paper, 17.4 cm (double column)"}
    assert at.selectbox(key="fig_counts_font").disabled
    style.set_value("double").run()
    assert not at.exception
    font = at.selectbox(key="fig_counts_font")
    assert not font.disabled and font.value == next(iter(export.PAPER_FONTS))
