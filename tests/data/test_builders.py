"""Instruction-data builders on small files in the real export formats (tests/data/fixtures).

The fixtures follow the real schemas with abbreviated real label text and real PubChem values; set ids, two NCT
numbers (NCT099000xx) and some applicant/ANDA details are illustrative.
"""
from __future__ import annotations

import json
import logging
from collections import Counter
from pathlib import Path

import pytest

import data.builders as builders
import prompts
from data.builders import clinical_trials, openfda, orange_book, pubchem
from data.records import DataError

FIXTURES = Path(__file__).parent / "fixtures"
OPENFDA = FIXTURES / "openfda_label.json"
ORANGE_BOOK = FIXTURES / "orange_book_products.txt"
TRIALS = FIXTURES / "clinicaltrials_v2.json"
PUBCHEM = FIXTURES / "pubchem_compounds.csv"


def by_task(records, task):
    return [r for r in records if r.task == task]


def one(records, task, **meta):
    found = [r for r in by_task(records, task) if all(r.meta.get(k) == v for k, v in meta.items())]
    assert len(found) == 1, (task, meta, found)
    return found[0]


# --- registry and shared rules ---------------------------------------------------------------------------------

def test_every_registered_builder_loads_and_describes_itself():
    for name in builders.BUILDERS:
        module = builders.get(name)
        assert isinstance(module.DESCRIPTION, str) and module.DESCRIPTION and "\n" not in module.DESCRIPTION
        assert callable(module.build)


def test_the_registry_builds_and_suggests_the_right_name():
    records = builders.get("openfda").build(str(OPENFDA))
    assert records == openfda.build(OPENFDA)
    with pytest.raises(DataError, match="Did you mean 'orange-book'"):
        builders.get("orangebook")


@pytest.mark.parametrize("module,path", [
    (openfda, OPENFDA), (orange_book, ORANGE_BOOK), (clinical_trials, TRIALS), (pubchem, PUBCHEM),
])
def test_output_is_deterministic_and_every_task_has_its_wording_in_the_yaml(module, path):
    first, second = module.build(path), module.build(path)
    assert [r.to_dict() for r in first] == [r.to_dict() for r in second]
    templates = prompts.load("instruction_builders")
    for record in first:
        assert record.task in templates
        assert record.prompt_messages == [{"role": "user", "content": record.prompt_messages[0]["content"]}]
        assert record.answer and "{" not in record.prompt_messages[0]["content"]


@pytest.mark.parametrize("module", [openfda, orange_book, clinical_trials, pubchem])
def test_a_missing_file_is_a_data_error_naming_it(module, tmp_path):
    missing = tmp_path / "nowhere.dat"
    with pytest.raises(DataError, match="nowhere.dat: file not found"):
        module.build(missing)


# --- openFDA labels --------------------------------------------------------------------------------------------

def test_openfda_one_record_per_label_and_section_present():
    records = openfda.build(OPENFDA)
    assert Counter(r.task for r in records) == {
        "label_indications": 3, "label_mechanism": 1, "label_adverse_reactions": 2, "label_warnings": 3,
        "label_dosage": 3,
    }
    # The label with an empty "openfda" block has no drug name and is skipped.
    assert {r.meta["drug"] for r in records} == {"ibuprofen", "metformin hydrochloride", "acetaminophen"}
    assert all(r.meta["source"] == "openFDA drug label" for r in records)
    assert len({r.meta["id"] for r in records}) == len(records)
    mechanism = one(records, "label_mechanism")
    assert mechanism.meta["id"] == "b1a7c3d2-5e6f-4a8b-9c0d-1e2f3a4b5c6d:label_mechanism"
    assert mechanism.prompt_messages[0]["content"] == "What is the mechanism of action of metformin hydrochloride?"


def test_openfda_sections_lose_their_heading_and_extra_whitespace():
    records = openfda.build(OPENFDA)
    indications = one(records, "label_indications", drug="metformin hydrochloride")
    assert indications.prompt_messages[0]["content"] == "What is metformin hydrochloride indicated for?"
    assert indications.answer.startswith("Metformin hydrochloride tablets are indicated as an adjunct to diet")
    # "INDICATIONS & USAGE" (older labels) and "Uses" (OTC Drug Facts) are headings too.
    assert one(records, "label_indications", drug="ibuprofen").answer.startswith("Carefully consider")
    assert one(records, "label_mechanism").answer.startswith("Metformin is an antihyperglycemic agent")
    assert one(records, "label_adverse_reactions", drug="ibuprofen").answer.startswith("The most frequent type")
    assert one(records, "label_indications", drug="acetaminophen").answer.startswith("Temporarily relieves")
    assert one(records, "label_dosage", drug="acetaminophen").answer.startswith("Do not take more than directed")
    dosage = one(records, "label_dosage", drug="metformin hydrochloride").answer
    assert dosage.startswith("2.1 Recommended Dosage") and "2550 mg per day" in dosage
    for record in records:
        assert "\n" not in record.answer and "  " not in record.answer
        assert not record.answer.upper().startswith(("INDICATIONS", "1 INDICATIONS", "ADVERSE", "6 ADVERSE", "DOSAGE"))


def test_openfda_warnings_put_the_boxed_warning_first():
    records = openfda.build(OPENFDA)
    metformin = one(records, "label_warnings", drug="metformin hydrochloride").answer
    assert metformin.startswith("Boxed warning: WARNING: LACTIC ACIDOSIS Postmarketing cases")
    assert "5.1 Lactic Acidosis There have been postmarketing cases" in metformin
    assert "5 WARNINGS AND PRECAUTIONS" not in metformin
    ibuprofen = one(records, "label_warnings", drug="ibuprofen").answer
    assert ibuprofen.startswith("Boxed warning: WARNING: RISK OF SERIOUS CARDIOVASCULAR")  # "BOXED WARNING" dropped
    assert "Cardiovascular Effects Cardiovascular Thrombotic Events" in ibuprofen
    assert one(records, "label_warnings", drug="acetaminophen").answer.startswith("Liver warning:")


def write_labels(tmp_path, *labels) -> Path:
    path = tmp_path / "labels.json"
    path.write_text(json.dumps({"meta": {}, "results": list(labels)}))
    return path


def test_openfda_long_sections_are_cut_at_a_sentence_end(tmp_path):
    sentence = "Metformin decreases hepatic glucose production and improves insulin sensitivity. "
    path = write_labels(tmp_path, {"set_id": "s1", "openfda": {"generic_name": ["METFORMIN"]},
                                   "mechanism_of_action": ["12.1 Mechanism of Action " + sentence * 100]})
    answer = openfda.build(path)[0].answer
    assert len(answer) <= openfda.MAX_ANSWER_CHARS
    assert answer.endswith("insulin sensitivity.") and len(answer) > openfda.MAX_ANSWER_CHARS - len(sentence)


def test_openfda_text_without_sentence_ends_is_cut_at_a_word():
    answer = openfda.truncate("hepatic glucose production " * 200)
    assert len(answer) <= openfda.MAX_ANSWER_CHARS and answer.endswith(" …")
    assert answer[:-2].split()[-1] in {"hepatic", "glucose", "production"}


def test_openfda_name_falls_back_to_brand_then_substance(tmp_path):
    path = write_labels(
        tmp_path,
        {"id": "a", "openfda": {"brand_name": ["Advil"], "substance_name": ["IBUPROFEN"]},
         "indications_and_usage": ["Uses temporarily relieves minor aches and pains"]},
        {"id": "b", "openfda": {"substance_name": ["WARFARIN SODIUM"]}, "indications_and_usage": ["Anticoagulant."]},
    )
    records = openfda.build(path)
    assert [r.prompt_messages[0]["content"] for r in records] == [
        "What is Advil indicated for?", "What is warfarin sodium indicated for?"]
    assert [r.meta["id"] for r in records] == ["a:label_indications", "b:label_indications"]


@pytest.mark.parametrize("content,match", [
    ('{"results": [', r"labels.json: not valid JSON \(line 1"),
    ('{"meta": {}}', r"labels.json: expected an openFDA label export"),
    ('{"results": [{"openfda": {"generic_name": ["X"]}}, "oops"]}', r"labels.json, results\[1\]: expected a label"),
    ('{"results": [{}, {}, {"openfda": {"generic_name": ["X"]}, "indications_and_usage": {"text": "y"}}]}',
     r"labels.json, results\[2\], indications_and_usage: expected a list of strings"),
    ('{"results": [{"openfda": {"generic_name": [], "brand_name": [1]}}]}',
     r"results\[0\], openfda.brand_name: expected a list of strings"),
])
def test_openfda_malformed_input_names_file_entry_and_field(tmp_path, content, match):
    path = tmp_path / "labels.json"
    path.write_text(content)
    with pytest.raises(DataError, match=match):
        openfda.build(path)


def test_openfda_reads_a_zipped_bulk_file(tmp_path):
    import zipfile

    path = tmp_path / "drug-label-0001-of-0013.json.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.write(OPENFDA, "drug-label-0001-of-0013.json")
    assert [r.to_dict() for r in openfda.build(path)] == [r.to_dict() for r in openfda.build(OPENFDA)]


# --- Orange Book ------------------------------------------------------------------------------------------------

def test_orange_book_three_records_per_unique_product():
    records = orange_book.build(ORANGE_BOOK)
    # Six rows, one an exact repeat of (020357, 001): five products.
    assert Counter(r.task for r in records) == {
        "orange_book_application": 5, "orange_book_approval": 5, "orange_book_marketing_status": 5}
    assert [r.meta["id"] for r in by_task(records, "orange_book_application")] == [
        "N018989-001", "N020357-001", "A090564-001", "A071214-001", "N009218-005"]
    assert all(r.meta["source"] == "FDA Orange Book" for r in records)


def test_orange_book_answers_carry_the_real_values():
    records = orange_book.build(ORANGE_BOOK)
    advil = one(records, "orange_book_application", id="N018989-001")
    assert advil.meta["drug"] == "ibuprofen" and advil.meta["label"] == "NDA"
    assert "ADVIL (ibuprofen 200MG, tablet, oral)" in advil.prompt_messages[0]["content"]
    assert "NDA (new drug application) 018989" in advil.answer and "HALEON US HOLDINGS LLC" in advil.answer
    generic = one(records, "orange_book_application", id="A090564-001")
    assert generic.meta["label"] == "ANDA"
    assert "ANDA (abbreviated new drug application, a generic) 090564" in generic.answer
    assert "over the counter" in one(records, "orange_book_marketing_status", id="N018989-001").answer
    assert "prescription" in one(records, "orange_book_marketing_status", id="A090564-001").answer
    discontinued = one(records, "orange_book_marketing_status", id="A071214-001")
    assert discontinued.meta["label"] == "DISCN" and discontinued.answer == "IBUPROFEN 400MG is listed as discontinued."
    assert one(records, "orange_book_approval", id="A090564-001").answer.endswith("approved on January 5, 2017.")
    assert one(records, "orange_book_approval", id="N018989-001").answer.endswith("approved on May 18, 1984.")
    assert "before January 1, 1982" in one(records, "orange_book_approval", id="N009218-005").answer


def orange_book_file(tmp_path, *rows) -> Path:
    path = tmp_path / "products.txt"
    path.write_text("\n".join([ORANGE_BOOK.read_text().splitlines()[0], *rows]) + "\n")
    return path


ADVIL = "IBUPROFEN~TABLET;ORAL~ADVIL~HALEON US HOLDINGS~200MG~N~018989~001~~May 18, 1984~Yes~Yes~OTC~HALEON US"


@pytest.mark.parametrize("row,match", [
    ("IBUPROFEN~TABLET;ORAL~ADVIL~200MG~N", r"products.txt, line 3: expected 14 fields separated by '~', found 5"),
    (ADVIL.replace("~OTC~", "~RXX~"), r"products.txt, line 3, Type: 'RXX' is not RX, OTC or DISCN"),
    (ADVIL.replace("~N~", "~B~"), r"products.txt, line 3, Appl_Type: 'B' is neither"),
    (ADVIL.replace("May 18, 1984", "1984-05-18"), r"products.txt, line 3, Approval_Date: '1984-05-18'"),
    (ADVIL.replace("~018989~", "~~"), r"products.txt, line 3, Appl_No: empty"),
])
def test_orange_book_malformed_rows_name_line_and_field(tmp_path, row, match):
    path = orange_book_file(tmp_path, ADVIL.replace("018989", "018990"), row)
    with pytest.raises(DataError, match=match):
        orange_book.build(path)


def test_orange_book_wrong_header_is_reported_on_line_1(tmp_path):
    path = tmp_path / "products.txt"
    path.write_text("Ingredient,Trade_Name\nIBUPROFEN,ADVIL\n")
    with pytest.raises(DataError, match=r"products.txt, line 1: not an Orange Book products.txt header"):
        orange_book.build(path)


# --- ClinicalTrials.gov -----------------------------------------------------------------------------------------

def test_trials_status_for_each_study_and_why_stopped_when_given():
    records = clinical_trials.build(TRIALS)
    assert [(r.task, r.meta["id"]) for r in records] == [
        ("trial_status", "NCT00004992"),
        ("trial_status", "NCT09900001"), ("trial_why_stopped", "NCT09900001"),
        ("trial_status", "NCT09900002"), ("trial_why_stopped", "NCT09900002"),
    ]
    assert all(r.meta["source"] == "ClinicalTrials.gov" for r in records)
    dpp = one(records, "trial_status", id="NCT00004992")
    assert dpp.prompt_messages[0]["content"] == (
        'What is the overall status of the clinical trial NCT00004992 ("Diabetes Prevention Program")?')
    assert dpp.answer == "Completed" and dpp.meta["label"] == "COMPLETED"
    assert dpp.meta["interventions"] == ["Metformin", "Intensive lifestyle intervention", "Placebo"]
    terminated = one(records, "trial_status", id="NCT09900001")
    assert terminated.answer == "Terminated" and terminated.meta["label"] == "TERMINATED"
    why = one(records, "trial_why_stopped", id="NCT09900001")
    assert "Slow enrollment; the sponsor ended the study early." in why.answer and "label" not in why.meta
    assert one(records, "trial_status", id="NCT09900002").answer == "Withdrawn"
    assert "funding was not obtained" in one(records, "trial_why_stopped", id="NCT09900002").answer


def test_trials_accept_a_single_study_or_a_list(tmp_path):
    studies = json.loads(TRIALS.read_text())["studies"]
    single, plain = tmp_path / "NCT09900001.json", tmp_path / "list.json"
    single.write_text(json.dumps(studies[1]))
    plain.write_text(json.dumps(studies))
    assert [r.task for r in clinical_trials.build(single)] == ["trial_status", "trial_why_stopped"]
    assert [r.to_dict() for r in clinical_trials.build(plain)] == [r.to_dict() for r in clinical_trials.build(TRIALS)]


@pytest.mark.parametrize("content,match", [
    ("[{]", r"trials.json: not valid JSON"),
    ('{"totalCount": 0}', r"trials.json: expected ClinicalTrials.gov API v2 JSON"),
    ('{"studies": [{"protocolSection": {"identificationModule": {"nctId": "NCT1"}, '
     '"statusModule": {"overallStatus": "COMPLETED"}}}, {"protocolSection": {"identificationModule": '
     '{"nctId": "NCT2"}, "statusModule": {}}}]}',
     r"trials.json, studies\[1\], protocolSection.statusModule.overallStatus: missing"),
    ('[{"protocolSection": {"identificationModule": {"nctId": 42}}}]',
     r"trials.json, \[0\], protocolSection.identificationModule.nctId: expected a string"),
    ('[{"protocolSection": {"identificationModule": {"nctId": "NCT1"}, "statusModule": {"overallStatus": "X"}, '
     '"armsInterventionsModule": {"interventions": "Metformin"}}}]',
     r"\[0\], protocolSection.armsInterventionsModule.interventions: expected a list"),
])
def test_trials_malformed_input_names_file_entry_and_field(tmp_path, content, match):
    path = tmp_path / "trials.json"
    path.write_text(content)
    with pytest.raises(DataError, match=match):
        clinical_trials.build(path)


# --- PubChem ----------------------------------------------------------------------------------------------------

def test_pubchem_records_per_valid_row_and_the_broken_smiles_reported():
    records, issues = pubchem.build_with_report(PUBCHEM)
    assert [(r.task, r.meta["id"]) for r in records] == [
        ("name_to_smiles", "CID3672"), ("compound_properties", "CID3672"),
        ("name_to_smiles", "CID4091"), ("compound_properties", "CID4091"),
        ("name_to_smiles", "CID2244"), ("compound_properties", "CID2244"),
    ]
    assert [(i.location, i.field, i.code, i.severity) for i in issues] == [
        ("line 5", "isosmiles", "invalid_smiles", "warning")]
    assert "CN1C=NC2=C1C(=O)N(C(=O)N2C" in issues[0].message
    ibuprofen = one(records, "name_to_smiles", id="CID3672")
    assert ibuprofen.prompt_messages[0]["content"] == "What is the SMILES string of Ibuprofen?"
    assert ibuprofen.answer == ibuprofen.meta["smiles"] == "CC(C)CC1=CC=C(C=C1)C(C)C(=O)O"
    properties = one(records, "compound_properties", id="CID3672").answer
    assert properties == ("Molecular formula: C13H18O2. Molecular weight: 206.28 g/mol. XLogP: 3.5. "
                          "Topological polar surface area: 37.3 Å². Hydrogen-bond donors: 1. "
                          "Hydrogen-bond acceptors: 2.")
    assert "XLogP: -1.3." in one(records, "compound_properties", id="CID4091").answer


def test_pubchem_build_logs_the_skipped_rows(caplog):
    with caplog.at_level(logging.WARNING, logger="data.builders.pubchem"):
        records = pubchem.build(PUBCHEM)
    assert len(records) == 6
    assert "line 5, isosmiles: RDKit cannot parse SMILES" in caplog.text


def test_pubchem_pug_rest_column_names_and_fallbacks(tmp_path):
    path = tmp_path / "properties.csv"
    path.write_text(
        "CID,Title,SMILES,ConnectivitySMILES,MolecularFormula,MolecularWeight,XLogP,TPSA,HBondDonorCount,"
        "HBondAcceptorCount\n"
        '2244,Aspirin,,CC(=O)OC1=CC=CC=C1C(=O)O,C9H8O4,180.16,1.2,63.6,1,4\n'
        '3672,,CC(C)CC1=CC=C(C=C1)C(C)C(=O)O,,C13H18O2,206.28,,,1,2\n'
        '5312377,Nothing,,,,,,,,\n'
    )
    records, issues = pubchem.build_with_report(path)
    assert [(r.task, r.answer) for r in records] == [
        ("name_to_smiles", "CC(=O)OC1=CC=CC=C1C(=O)O"),  # SMILES empty: the connectivity SMILES is used
        ("compound_properties", "Molecular formula: C9H8O4. Molecular weight: 180.16 g/mol. XLogP: 1.2. "
                                "Topological polar surface area: 63.6 Å². Hydrogen-bond donors: 1. "
                                "Hydrogen-bond acceptors: 4."),
    ]
    assert [(i.location, i.code) for i in issues] == [("line 3", "missing_name"), ("line 4", "missing_smiles")]


@pytest.mark.parametrize("content,match", [
    ("", r"compounds.csv: empty file"),
    ("cid,cmpdname,mw\n2244,Aspirin,180.16\n", r"compounds.csv, line 1: not a PubChem compound CSV"),
    ("cid,cmpdname,isosmiles\n2244,Aspirin,CC(=O)OC1=CC=CC=C1C(=O)O\n3672,Ibuprofen\n",
     r"compounds.csv, line 3: expected 3 columns, found 2"),
])
def test_pubchem_malformed_input_names_file_and_line(tmp_path, content, match):
    path = tmp_path / "compounds.csv"
    path.write_text(content)
    with pytest.raises(DataError, match=match):
        pubchem.build(path)
