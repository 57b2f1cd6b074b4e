from engine.diagnostics import (
    Diagnostic,
    Origin,
    StageError,
    has_errors,
    render_github,
    render_json,
    render_text,
    sorted_diagnostics,
)


def _diag(**kw):
    base = {"severity": "error", "code": "NM201", "message": "power.budget: bad"}
    base.update(kw)
    return Diagnostic(**base)


def test_text_rendering_with_chain_and_hint():
    d = Diagnostic.at(
        Origin("specs/base.yaml", 4, 9),
        "NM201",
        "power.budget: expected a power like '61uW', got '61uA' (a current)",
        hint="write the budget in watts",
        chain=("specs/site.yaml:2:10",),
    )
    assert render_text([d]) == (
        "specs/base.yaml:4:9: error[NM201]: power.budget: expected a power like '61uW', "
        "got '61uA' (a current)\n"
        "  included from specs/site.yaml:2:10\n"
        "  hint: write the budget in watts\n"
    )


def test_location_without_file_or_line():
    assert _diag().location == "nmspec"
    assert _diag(file="a.yaml").location == "a.yaml"
    assert _diag(file="a.yaml", line=3).location == "a.yaml:3:1"


def test_sorting_is_by_file_line_column_then_severity_and_deduplicates():
    a = _diag(file="b.yaml", line=1, column=1)
    b = _diag(file="a.yaml", line=9, column=2, severity="warning")
    c = _diag(file="a.yaml", line=9, column=2)
    assert sorted_diagnostics([a, b, c, a]) == [c, b, a]


def test_stage_error_carries_sorted_diagnostics():
    a = _diag(file="b.yaml", line=1, column=1)
    c = _diag(file="a.yaml", line=2, column=1)
    err = StageError([a, c])
    assert err.diagnostics == (c, a)
    assert has_errors(err.diagnostics)
    assert not has_errors([_diag(severity="warning")])


def test_json_rendering_is_canonical():
    text = render_json([_diag(file="a.yaml", line=1, column=2)])
    assert text.startswith('[\n  {\n    "chain": [],\n    "code": "NM201",\n    "column": 2,')


def test_github_annotations_escape_properties_and_message():
    d = _diag(file="a,b.yaml", line=3, column=4, message="50%\nnext", hint="h")
    assert render_github([d]) == (
        "::error file=a%2Cb.yaml,line=3,col=4,title=NM201::50%25%0Anext (hint: h)\n"
    )
    assert render_github([_diag(severity="note")]) == "::notice title=NM201::power.budget: bad\n"
