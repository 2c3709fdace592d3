"""Every reference in the repository resolves inside it: "spec N.N" names a section of docs/SPEC.md,
and the documents' links name files that exist, so a fresh clone answers every "why" it cites."""
import os
import re

from conftest import ROOT

SPEC = os.path.join(ROOT, 'docs', 'SPEC.md')
# "spec 7.2", "spec section 3", "spec 4.1-4.3", "spec 1.2, 7.1, 7.4", "spec 5, 10 and 11.5"
CITATION = re.compile(r'\b[Ss]pec(?: sections?)? (\d+(?:\.\d+)?(?:(?:-|, | and )\d+(?:\.\d+)?)*)')
SKIPPED_DIRS = {'outputs', 'data', '__pycache__'}   # user files, not the project's


def project_files(endings=('.py', '.md')):
    for folder, dirs, files in os.walk(ROOT):
        dirs[:] = [d for d in dirs if not d.startswith('.') and d not in SKIPPED_DIRS]
        for name in files:
            if name.endswith(endings):
                yield os.path.join(folder, name)


def spec_sections():
    """Section numbers of the headings of docs/SPEC.md: '## 3. Filters' -> '3', '### 3.4 ...' -> '3.4'."""
    return set(re.findall(r'^#{2,3} (\d+(?:\.\d+)?)\.? ', open(SPEC).read(), re.M))


def test_spec_has_every_section_of_the_original():
    sections = spec_sections()
    assert {str(n) for n in range(1, 12)} <= sections
    assert {'3.4', '4.7', '5.9', '6.6', '7.6', '8.6', '9.3', '10.2', '11.7'} <= sections


def test_every_spec_citation_names_a_section_of_docs_spec():
    sections = spec_sections()
    cited = {}
    for path in project_files():
        if path == SPEC:
            continue
        for match in CITATION.finditer(open(path, encoding='utf-8').read()):
            for section in re.split(r'-|, | and ', match.group(1)):
                cited.setdefault(section, os.path.relpath(path, ROOT))
    assert len(cited) >= 30                        # the code cites the spec throughout
    missing = {s: where for s, where in cited.items() if s not in sections}
    assert not missing, missing


def test_document_links_name_files_that_exist():
    documents = list(project_files(('.md',)))
    named = set()
    for path in documents:
        text = open(path, encoding='utf-8').read()
        named |= set(re.findall(r'\]\(((?:docs|models)/[^)#\s]+)\)', text))       # markdown links
        named |= set(re.findall(r'`((?:docs|models)/[\w/.-]+\.(?:md|jpg|png))`', text))
    assert 'docs/SPEC.md' in named
    missing = sorted(n for n in named if not os.path.exists(os.path.join(ROOT, n)))
    assert not missing, missing


def test_no_reason_points_outside_the_repository():
    """A comment or document gives its reason, not a pointer to a decisions list, a planning round, a
    project issue or the spec's copy beside the repository, none of which a fresh clone has."""
    outside = re.compile(r'decisions(?:\.md|:|,)|\bround \d+\b|\bissue \d+\b|shared/spec', re.I)
    found = [f'{os.path.relpath(path, ROOT)}: {match.group(0)}' for path in project_files()
             if path != os.path.abspath(__file__)           # its own pattern names them
             for match in outside.finditer(open(path, encoding='utf-8').read())]
    assert not found, found
