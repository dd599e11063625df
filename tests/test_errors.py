"""landers.errors.first_line: a library's many-line error, quoted inside one sentence."""

import json

import pytest

from landers.errors import first_line


def test_first_line_of_a_many_line_error_without_its_closing_punctuation():
    error = RuntimeError("Error(s) in loading state_dict for Actor:\n\tsize mismatch for weight.\n")
    assert first_line(error) == "Error(s) in loading state_dict for Actor"
    assert first_line(ValueError("  \n  shape (3,) is not (4,).  \nmore")) == "shape (3,) is not (4,)"


def test_first_line_names_an_exception_without_a_message():
    assert first_line(KeyError()) == "KeyError"
    assert first_line("") == ""


def test_first_line_of_a_parser_error():
    with pytest.raises(json.JSONDecodeError) as caught:
        json.loads("{'lr': 1}")
    assert first_line(caught.value).startswith("Expecting property name enclosed in double quotes")
