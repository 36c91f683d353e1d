"""Seeded synthetic Noark 5 (v3.1) arkivuttrekk of Stord's byggesak archive, over the synthetic matrikkel.

SYNTHETIC: names, numbers and letters are invented. 520 byggesaker on parcels of datasets/eigedomar (filed in a
GBN klassifikasjonssystem with klasseID "gnr/bnr", and the title "Gnr 12 Bnr 345 - Tilbygg" as municipalities
write it; a few saker name a property that is not in the matrikkel, or none). Every second sak is also filed by
its kind in a second klassifikasjonssystem "Tiltakstype" (referanseSekundaerKlassifikasjon to the klasse; every
20th of them as dispensasjon, whatever the title says); the others carry their kind only in the title.
Journalpostar (søknad, nabovarsel, vedtak, ferdigattest) with private korrespondanseparter (address, e-mail,
phone), some skjerma (offentligTittel, skjermingshjemmel, skjermingDokument), and typed letters as small text PDFs
with their SHA-256 and size.

Planted identifiers, so screening can be tested: valid fødselsnummer (today's rule and the 2032 rule), D- and
H-nummer and kontonummer in titles and letters, in the forms people type them; and numbers with a wrong check
digit that must NOT be flagged. `PLANTED` (valid) and `DECOYS` (invalid) list them for the tests.

Scanned pages (`render_scans`): typed Nynorsk and Bokmål letters and simple drawings rendered as page images at
150 dpi with skew, speckle noise and blur (a few upside down), as image-only PDFs in the extract and as a vendor's
loose scans (TIFF/PDF + `indeks.csv`, kjelder/skanna); some carry planted identifiers, some are skjerma. The text
each page was rendered from is in kjelder/fasit.json (ground truth for bench/bench_ocr.py; never published).
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from xml.sax.saxutils import escape

from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from grunndata.samples import load_generator
from pipelines import screening

SEED = 4614_12
HERE = Path(__file__).parent
OUT = HERE / "kjelder" / "uttrekk"
XSD = HERE.parent.parent / "pipelines" / "data" / "noark5"
N_SAKER = 520
TILTAK = ["Tilbygg einebustad", "Påbygg", "Garasje", "Ny einebustad", "Bruksendring", "Riving av uthus",
          "Terrasse og levegg", "Fasadeendring", "Tilbygg bustad", "Støttemur", "Søknad om deling", "Carport"]
# the sakstype (pipelines/data/byggesak_sakstype.csv) each tiltak is filed under, stated here rather than recognised
TILTAK_SAKSTYPE = {"Tilbygg einebustad": "tilbygg", "Påbygg": "pabygg", "Garasje": "garasje_uthus",
                   "Ny einebustad": "nybygg", "Bruksendring": "bruksendring", "Riving av uthus": "riving",
                   "Terrasse og levegg": "terrasse_veranda", "Fasadeendring": "fasadeendring",
                   "Tilbygg bustad": "tilbygg", "Støttemur": "konstruksjon_anlegg", "Søknad om deling": "deling",
                   "Carport": "garasje_uthus"}
SAKSTYPE_SYSTEM = "Tiltakstype"  # = source.options.sakstype_klassifikasjonssystem in dataset.yml
NAMN = ["Kari Nordmann", "Ola Vik", "Ingrid Sæbø", "Per Lunde", "Siri Haugland", "Nils Tveit", "Marit Eide"]
JP = [("Søknad om løyve til tiltak", "Inngående dokument", "Avsender"),
      ("Nabovarsel", "Inngående dokument", "Avsender"),
      ("Merknad frå nabo", "Inngående dokument", "Avsender"),
      ("Vedtak - løyve til tiltak", "Utgående dokument", "Mottaker"),
      ("Ferdigattest", "Utgående dokument", "Mottaker")]
HJEMMEL = "Offl. § 13 jf. fvl. § 13 første ledd nr. 1"


def _uid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def planted_numbers(rng: random.Random) -> tuple[list[str], list[str]]:
    """(valid identifiers as typed, invalid look-alikes as typed)."""
    valid, decoys = [], []
    while len(valid) < 40:
        day, month, yy = rng.randint(1, 28), rng.randint(1, 12), rng.randint(0, 99)
        kind = rng.choice(["f", "f", "d", "h", "2032"])
        d = day + 40 if kind == "d" else day
        m = month + 40 if kind == "h" else month
        num = screening.person_number(f"{d:02d}{m:02d}{yy:02d}", f"{rng.randint(0, 999):03d}",
                                      "2032" if kind == "2032" else "gjeldande", rng.randint(1, 3))
        if num is None:
            continue
        form = rng.choice(["{}", "{} {}", "{}.{}.{} {}"])
        typed = num if form == "{}" else f"{num[:6]} {num[6:]}" if form == "{} {}" else \
            f"{num[:2]}.{num[2:4]}.{num[4:6]} {num[6:]}"
        valid.append(typed)
        wrong = num[:10] + str((int(num[10]) + 1) % 10)  # K2 off by one: fails every rule
        if screening.find(wrong) == []:
            decoys.append(wrong)
    while len(valid) < 52:
        k = screening.kontonummer(f"{rng.randint(1000, 9999)}{rng.randint(10, 99)}{rng.randint(1000, 9999)}")
        if k is None:
            continue
        valid.append(rng.choice([k, f"{k[:4]}.{k[4:6]}.{k[6:]}", f"{k[:4]} {k[4:6]} {k[6:]}"]))
    return valid, decoys


def _pdf(lines: list[str]) -> bytes:
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4, invariant=1)
    y = 780
    for line in lines:
        c.drawString(72, y, line)
        y -= 18
    c.showPage()
    c.save()
    return buf.getvalue()


def _skjerming(hjemmel: str, dokument: bool, indent: str) -> str:
    out = [f"{indent}<skjerming>", f"{indent} <tilgangsrestriksjon>13</tilgangsrestriksjon>",
           f"{indent} <skjermingshjemmel>{escape(hjemmel)}</skjermingshjemmel>",
           f"{indent} <skjermingMetadata>tittel</skjermingMetadata>"]
    if dokument:
        out.append(f"{indent} <skjermingDokument>Skjerming av hele dokumentet</skjermingDokument>")
    out.append(f"{indent}</skjerming>")
    return "\n".join(out)


def _sakstype_system(rng: random.Random) -> tuple[str, dict[str, str]]:
    """The klassifikasjonssystem of saker by kind (one klasse per sakstype of the table) and klasseID -> systemID."""
    from pipelines.sakstype import UNKNOWN, sakstypar

    ids = {k: _uid(rng) for k in sakstypar() if k != UNKNOWN}
    klasser = "".join(f"""   <klasse>
    <systemID>{ids[k]}</systemID>
    <klasseID>{k}</klasseID>
    <tittel>{escape(t.namn)}</tittel>
    <opprettetDato>1995-01-01T00:00:00</opprettetDato>
    <opprettetAv>Arkivleiar</opprettetAv>
   </klasse>
""" for k, t in sakstypar().items() if k in ids)
    return f"""  <klassifikasjonssystem>
   <systemID>{_uid(rng)}</systemID>
   <klassifikasjonstype>{SAKSTYPE_SYSTEM}</klassifikasjonstype>
   <tittel>Sakstype (tiltakstype etter plan- og bygningslova § 20-1)</tittel>
   <opprettetDato>1995-01-01T00:00:00</opprettetDato>
   <opprettetAv>Arkivleiar</opprettetAv>
{klasser}  </klassifikasjonssystem>
""", ids


def generate(out: Path = OUT) -> dict[str, Path]:
    rng = random.Random(SEED)
    # its own sequence, as the scans': the rest of the sample is as it was before saker were filed by kind
    kind_system, kind_ids = _sakstype_system(random.Random(SEED + 3))
    parcels = load_generator(HERE.parent / "eigedomar").parcels()
    chosen = rng.sample([p for p in parcels if not p["fnr"]], N_SAKER - 8)
    valid, decoys = planted_numbers(rng)
    scan_rng = random.Random(SEED + 1)  # its own sequence: the rest of the sample is as it was without scans
    scans: dict[str, list[ScanPage]] = {}
    docs = out / "dokumenter"
    docs.mkdir(parents=True, exist_ok=True)
    for old in docs.glob("*.pdf"):
        old.unlink()
    by_gnr: dict[tuple[int, int], list[str]] = {}
    saker = []
    for i in range(N_SAKER):
        year = 1995 + i % 30
        seq = i // 30 + 1
        if i < len(chosen):
            gnr, bnr = chosen[i]["gnr"], chosen[i]["bnr"]
        elif i < N_SAKER - 3:
            gnr, bnr = 900 + i, 1  # not in the matrikkel: listed as unresolved
        else:
            gnr = bnr = None  # names no property at all
        tiltak = rng.choice(TILTAK)
        tittel = f"Gnr {gnr} Bnr {bnr} - {tiltak}" if gnr is not None else f"{tiltak} - utan eigedom"
        if i % 13 == 5:
            tittel += f" - søkjar {rng.choice(valid)}"
        if i % 17 == 3:
            tittel += f" - ref. {rng.choice(decoys)}"
        saker.append((i, year, seq, gnr, bnr, tittel))
        key = (gnr, bnr) if gnr is not None else (-1, -1)
        mappe = _sak_xml(rng, i, year, seq, tittel, valid, decoys, docs)
        if i % 2 == 0:  # filed by kind too; a dispensasjon now and then, whatever tiltak the title names
            kind = "dispensasjon" if i % 40 == 0 else TILTAK_SAKSTYPE[tiltak]
            mappe = mappe.replace("</saksstatus>\n", "</saksstatus>\n     <referanseSekundaerKlassifikasjon>"
                                  f"{kind_ids[kind]}</referanseSekundaerKlassifikasjon>\n", 1)
        if i % SCAN_EVERY == 2:  # a scanned letter (image-only PDF) in its own journalpost
            pages = scan_letter(scan_rng, f"{year}/{seq}", tittel.split(" - søkjar")[0].split(" - ref.")[0], valid,
                                decoys, scan_rng.randint(2, 5), plant=len(scans) % 2 == 0)
            name = f"skann-{_uid(scan_rng)}.pdf"
            data = _scan_pdf(pages, scan_rng)
            (docs / name).write_bytes(data)
            scans[f"dokumenter/{name}"] = pages
            mappe = mappe.replace("     <saksaar>", _scan_jp(scan_rng, i, year, seq, name, data,
                                                            skjerma=len(scans) % 4 == 0) + "     <saksaar>", 1)
        by_gnr.setdefault(key, []).append(mappe)
    klasser = []
    for (gnr, bnr), mapper in sorted(by_gnr.items()):
        if gnr < 0:
            continue
        klasser.append(f"""   <klasse>
    <systemID>{_uid(rng)}</systemID>
    <klasseID>{gnr}/{bnr}</klasseID>
    <tittel>Gnr {gnr} Bnr {bnr}</tittel>
    <opprettetDato>1995-01-01T00:00:00</opprettetDato>
    <opprettetAv>Arkivleiar</opprettetAv>
{''.join(mapper)}   </klasse>
""")
    body = f"""<?xml version="1.0" encoding="UTF-8"?>
<arkiv xmlns="http://www.arkivverket.no/standarder/noark5/arkivstruktur"
  xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">
{_closed_head(rng, " ", "Stord kommune - byggesaksarkiv (SYNTETISK)", "arkivstatus", "Avsluttet")}
 <arkivskaper>
  <arkivskaperID>939866914</arkivskaperID>
  <arkivskaperNavn>Stord kommune, byggesak</arkivskaperNavn>
 </arkivskaper>
 <arkivdel>
{_closed_head(rng, "  ", "Byggesaker 1995-2024", "arkivdelstatus", "Avsluttet periode")}
  <klassifikasjonssystem>
   <systemID>{_uid(rng)}</systemID>
   <klassifikasjonstype>GBNR</klassifikasjonstype>
   <tittel>Gards- og bruksnummer</tittel>
   <opprettetDato>1995-01-01T00:00:00</opprettetDato>
   <opprettetAv>Arkivleiar</opprettetAv>
{''.join(klasser)}  </klassifikasjonssystem>
 </arkivdel>
</arkiv>
"""
    # the saker without a property are filed in a klasse that is no gnr/bnr
    unfiled = "".join(by_gnr.get((-1, -1), []))
    body = body.replace("  </klassifikasjonssystem>", f"""   <klasse>
    <systemID>{_uid(rng)}</systemID>
    <klasseID>diverse</klasseID>
    <tittel>Utan eigedom</tittel>
    <opprettetDato>1995-01-01T00:00:00</opprettetDato>
    <opprettetAv>Arkivleiar</opprettetAv>
{unfiled}   </klasse>
  </klassifikasjonssystem>""")
    body = body.replace(" </arkivdel>", kind_system + " </arkivdel>", 1)
    (out / "arkivstruktur.xml").write_text(body, encoding="utf-8")
    for xsd in ("arkivstruktur.xsd", "metadatakatalog.xsd"):  # an extract ships its schemas
        shutil.copyfile(XSD / xsd, out / xsd)
    loose = render_scans(out.parent / "skanna", valid, decoys)
    fasit = {"uttrekk": _fasit(scans), "skanna": _fasit(loose)}
    (out.parent / "fasit.json").write_text(json.dumps(fasit, ensure_ascii=False, indent=1), encoding="utf-8")
    return {"uttrekk": out / "arkivstruktur.xml", "skanna": out.parent / "skanna" / "indeks.csv"}


def _closed_head(rng: random.Random, indent: str, tittel: str, status_tag: str, status: str) -> str:
    """The first lines of a closed arkiv or arkivdel (a new systemID from `rng`), each `indent`ed; no last newline."""
    lines = [f"<systemID>{_uid(rng)}</systemID>", f"<tittel>{tittel}</tittel>",
             f"<{status_tag}>{status}</{status_tag}>", "<dokumentmedium>Elektronisk arkiv</dokumentmedium>",
             "<opprettetDato>1995-01-01T00:00:00</opprettetDato>", "<opprettetAv>Arkivleiar</opprettetAv>",
             "<avsluttetDato>2024-12-31T00:00:00</avsluttetDato>", "<avsluttetAv>Arkivleiar</avsluttetAv>"]
    return "\n".join(indent + line for line in lines)


def _scan_jp(rng: random.Random, i: int, year: int, seq: int, name: str, data: bytes, skjerma: bool) -> str:
    sk = _skjerming(HJEMMEL, True, "         ") if skjerma else ""
    return f"""       <registrering xsi:type="journalpost">
        <systemID>{_uid(rng)}</systemID>
        <opprettetDato>{year}-04-01T00:00:00</opprettetDato>
        <opprettetAv>Skanning</opprettetAv>
        <arkivertDato>{year}-04-02T00:00:00</arkivertDato>
        <arkivertAv>Arkivleiar</arkivertAv>
        <dokumentbeskrivelse>
         <systemID>{_uid(rng)}</systemID>
         <dokumenttype>Brev</dokumenttype>
         <dokumentstatus>Dokumentet er ferdigstilt</dokumentstatus>
         <tittel>Skanna brev i sak {year}/{seq}</tittel>
         <opprettetDato>{year}-04-01T00:00:00</opprettetDato>
         <opprettetAv>Skanning</opprettetAv>
         <tilknyttetRegistreringSom>Hoveddokument</tilknyttetRegistreringSom>
         <dokumentnummer>1</dokumentnummer>
         <tilknyttetDato>{year}-04-01T00:00:00</tilknyttetDato>
         <tilknyttetAv>Skanning</tilknyttetAv>
{sk}
         <dokumentobjekt>
          <versjonsnummer>1</versjonsnummer>
          <variantformat>Arkivformat</variantformat>
          <format>pdf</format>
          <opprettetDato>{year}-04-01T00:00:00</opprettetDato>
          <opprettetAv>Skanning</opprettetAv>
          <referanseDokumentfil>dokumenter/{name}</referanseDokumentfil>
          <sjekksum>{hashlib.sha256(data).hexdigest()}</sjekksum>
          <sjekksumAlgoritme>SHA-256</sjekksumAlgoritme>
          <filstoerrelse>{len(data)}</filstoerrelse>
         </dokumentobjekt>
        </dokumentbeskrivelse>
        <registreringsID>{year}/{seq}-9</registreringsID>
        <tittel>Skanna brev</tittel>
        <dokumentmedium>Fysisk medium</dokumentmedium>
        <journalaar>{year}</journalaar>
        <journalsekvensnummer>{i * 5 + 9}</journalsekvensnummer>
        <journalpostnummer>9</journalpostnummer>
        <journalposttype>Inngående dokument</journalposttype>
        <journalstatus>Arkivert</journalstatus>
        <journaldato>{year}-04-01</journaldato>
        <korrespondansepart>
         <korrespondanseparttype>Avsender</korrespondanseparttype>
         <korrespondansepartNavn>Skanning AS</korrespondansepartNavn>
        </korrespondansepart>
       </registrering>
"""


def _sak_xml(rng: random.Random, i: int, year: int, seq: int, tittel: str, valid: list[str], decoys: list[str],
             docs: Path) -> str:
    jps = []
    n_jp = rng.randint(2, 5)
    for j, (jtittel, jtype, rolle) in enumerate(JP[:n_jp]):
        person = rng.choice(NAMN)
        skjerma = (i + j) % 11 == 0
        heil = skjerma and j % 2 == 0
        offentleg = f"{jtittel} - {'*' * len(person)}"
        jtitle = f"{jtittel} - {person}"
        dok = ""
        if i % 4 == 0 or skjerma:
            lines = [f"Stord kommune - {jtittel}", f"Sak {year}/{seq}", tittel.split(" - søkjar")[0],
                     f"Til: {person}, Leirvikvegen {rng.randint(1, 80)}, 5411 Stord",
                     "Vi viser til søknaden og har vurdert saka etter plan- og bygningslova."]
            if (i + j) % 5 == 0:
                lines.append(f"Fødselsnummer søkjar: {rng.choice(valid)}")
            if (i + j) % 7 == 0:
                lines.append(f"Gebyret kan betalast til konto {rng.choice(valid[-12:])}")
            if (i + j) % 6 == 0:
                lines.append(f"Referanse {rng.choice(decoys)}")
            data = _pdf(lines)
            name = f"{_uid(rng)}.pdf"
            (docs / name).write_bytes(data)
            ref = f"dokumenter\\{name}" if i % 8 == 0 else f"dokumenter/{name}"  # some as Windows paths
            dok = f"""        <dokumentbeskrivelse>
         <systemID>{_uid(rng)}</systemID>
         <dokumenttype>{'Brev' if j else 'Søknad'}</dokumenttype>
         <dokumentstatus>Dokumentet er ferdigstilt</dokumentstatus>
         <tittel>{escape(jtitle)}</tittel>
         <opprettetDato>{year}-03-01T00:00:00</opprettetDato>
         <opprettetAv>Sakshandsamar</opprettetAv>
         <tilknyttetRegistreringSom>Hoveddokument</tilknyttetRegistreringSom>
         <dokumentnummer>1</dokumentnummer>
         <tilknyttetDato>{year}-03-01T00:00:00</tilknyttetDato>
         <tilknyttetAv>Sakshandsamar</tilknyttetAv>
{_skjerming(HJEMMEL, True, '         ') if heil else ''}
         <dokumentobjekt>
          <versjonsnummer>1</versjonsnummer>
          <variantformat>Arkivformat</variantformat>
          <format>pdf</format>
          <opprettetDato>{year}-03-01T00:00:00</opprettetDato>
          <opprettetAv>Sakshandsamar</opprettetAv>
          <referanseDokumentfil>{escape(ref)}</referanseDokumentfil>
          <sjekksum>{hashlib.sha256(data).hexdigest()}</sjekksum>
          <sjekksumAlgoritme>SHA-256</sjekksumAlgoritme>
          <filstoerrelse>{len(data)}</filstoerrelse>
         </dokumentobjekt>
        </dokumentbeskrivelse>
"""
        jps.append(f"""       <registrering xsi:type="journalpost">
        <systemID>{_uid(rng)}</systemID>
        <opprettetDato>{year}-03-01T00:00:00</opprettetDato>
        <opprettetAv>Postmottak</opprettetAv>
        <arkivertDato>{year}-03-02T00:00:00</arkivertDato>
        <arkivertAv>Arkivleiar</arkivertAv>
{_skjerming(HJEMMEL, False, '        ') if skjerma else ''}
{dok}        <registreringsID>{year}/{seq}-{j + 1}</registreringsID>
        <tittel>{escape(jtitle)}</tittel>
        <offentligTittel>{escape(offentleg)}</offentligTittel>
        <dokumentmedium>Elektronisk arkiv</dokumentmedium>
        <journalaar>{year}</journalaar>
        <journalsekvensnummer>{i * 5 + j + 1}</journalsekvensnummer>
        <journalpostnummer>{j + 1}</journalpostnummer>
        <journalposttype>{jtype}</journalposttype>
        <journalstatus>Arkivert</journalstatus>
        <journaldato>{year}-03-{j + 1:02d}</journaldato>
        <korrespondansepart>
         <korrespondanseparttype>{rolle}</korrespondanseparttype>
         <korrespondansepartNavn>{escape(person)}</korrespondansepartNavn>
         <postadresse>Leirvikvegen {rng.randint(1, 80)}</postadresse>
         <postnummer>5411</postnummer>
         <poststed>Stord</poststed>
         <epostadresse>{person.split()[0].lower()}@eksempel.no</epostadresse>
         <telefonnummer>9{rng.randint(1000000, 9999999)}</telefonnummer>
        </korrespondansepart>
       </registrering>
""")
    status = "Avsluttet" if year < 2023 else "Under behandling"
    return f"""    <mappe xsi:type="saksmappe">
     <systemID>{_uid(rng)}</systemID>
     <mappeID>{year}/{seq}</mappeID>
     <tittel>{escape(tittel)}</tittel>
     <dokumentmedium>Elektronisk arkiv</dokumentmedium>
     <opprettetDato>{year}-03-01T00:00:00</opprettetDato>
     <opprettetAv>Sakshandsamar</opprettetAv>
     <avsluttetDato>{year + 1}-01-15T00:00:00</avsluttetDato>
     <avsluttetAv>Sakshandsamar</avsluttetAv>
{''.join(jps)}     <saksaar>{year}</saksaar>
     <sakssekvensnummer>{seq}</sakssekvensnummer>
     <saksdato>{year}-03-01</saksdato>
     <administrativEnhet>Byggesak</administrativEnhet>
     <saksansvarlig>Sakshandsamar</saksansvarlig>
     <saksstatus>{status}</saksstatus>
    </mappe>
"""


SCAN_DPI = 150
SCAN_EVERY = 40  # every 40th sak has a scanned letter in the extract
FONT_DIR = Path("/usr/share/fonts/truetype/dejavu")
FIXED_DATE = __import__("time").strptime("2024-01-01", "%Y-%m-%d")  # deterministic PDF dates
BREV_NN = ["Vi viser til søknaden dykkar om løyve til tiltak på eigedomen.",
           "Tiltaket er vurdert etter plan- og bygningslova og reguleringsplanen for området.",
           "Kommunen gjev løyve til tiltaket med dei vilkåra som står nedanfor.",
           "Arbeidet må vere ferdig innan tre år frå vedtaksdatoen.",
           "Naboane har fått varsel og det kom inga merknad innan fristen.",
           "Du kan klage på vedtaket innan tre veker frå du fekk dette brevet."]
BREV_NB = ["Vi viser til søknaden deres om tillatelse til tiltak på eiendommen.",
           "Tiltaket er vurdert etter plan- og bygningsloven og reguleringsplanen for området.",
           "Kommunen gir tillatelse til tiltaket med de vilkårene som står nedenfor.",
           "Arbeidet må være ferdig innen tre år fra vedtaksdatoen.",
           "Naboene har fått varsel og det kom ingen merknader innen fristen.",
           "Du kan klage på vedtaket innen tre uker fra du mottok dette brevet."]


@dataclass
class ScanPage:
    lines: list[str]
    drawing: bool = False
    planted: list[str] = field(default_factory=list)   # valid identifiers on the page, as typed
    decoys: list[str] = field(default_factory=list)


def _page_image(page: ScanPage, rng: random.Random):
    from PIL import Image, ImageDraw, ImageFilter, ImageFont

    w, h = int(8.27 * SCAN_DPI), int(11.69 * SCAN_DPI)
    im = Image.new("L", (w, h), 255)
    d = ImageDraw.Draw(im)
    face = rng.choice(["DejaVuSerif.ttf", "DejaVuSans.ttf", "DejaVuSansMono.ttf"])
    font = ImageFont.truetype(str(FONT_DIR / face), int(12 / 72 * SCAN_DPI))
    y = int(1.0 * SCAN_DPI)
    if page.drawing:  # a facade: walls, roof, door, windows, a dimension line
        x0, x1, top, base = int(1.5 * SCAN_DPI), int(6.5 * SCAN_DPI), int(5 * SCAN_DPI), int(8 * SCAN_DPI)
        d.rectangle([x0, top, x1, base], outline=0, width=4)
        d.polygon([(x0 - 20, top), ((x0 + x1) // 2, top - int(1.6 * SCAN_DPI)), (x1 + 20, top)], outline=0, width=4)
        d.rectangle([x0 + 80, base - 260, x0 + 200, base], outline=0, width=3)
        for wx in (x0 + 330, x0 + 530):
            d.rectangle([wx, top + 90, wx + 130, top + 220], outline=0, width=3)
        d.line([x0, base + 60, x1, base + 60], fill=0, width=2)
    for line in page.lines:
        d.text((int(0.9 * SCAN_DPI), y), line, font=font, fill=0)
        y += int(0.27 * SCAN_DPI)
        if page.drawing and y > int(2.6 * SCAN_DPI):
            y = int(9.0 * SCAN_DPI)
    im = im.rotate(rng.uniform(-2.0, 2.0), resample=Image.BICUBIC, fillcolor=255)
    if rng.random() < 0.1:
        im = im.rotate(180)
    px = im.load()
    for _ in range(2500):  # speckle, as on a dusty glass
        px[rng.randrange(w), rng.randrange(h)] = rng.choice((0, 90, 160))
    return im.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.6)))


def _scan_pdf(pages: list[ScanPage], rng: random.Random) -> bytes:
    images = [_page_image(p, rng) for p in pages]
    buf = io.BytesIO()
    images[0].save(buf, format="PDF", resolution=SCAN_DPI, save_all=True, append_images=images[1:], quality=60,
                   title="Skanna dokument", creationDate=FIXED_DATE, modDate=FIXED_DATE)
    return buf.getvalue()


def _scan_tiff(pages: list[ScanPage], rng: random.Random) -> bytes:
    images = [_page_image(p, rng).point(lambda v: 255 if v > 150 else 0, mode="1") for p in pages]
    buf = io.BytesIO()
    images[0].save(buf, format="TIFF", save_all=True, append_images=images[1:], compression="group4",
                   dpi=(SCAN_DPI, SCAN_DPI))
    return buf.getvalue()


def scan_letter(rng: random.Random, sak: str, tittel: str, valid: list[str], decoys: list[str],
                n_pages: int, plant: bool) -> list[ScanPage]:
    """A typed letter of n pages (Nynorsk or Bokmål); the last page a drawing now and then."""
    nn = rng.random() < 0.6
    body = BREV_NN if nn else BREV_NB
    pages = []
    for n in range(n_pages):
        if n == n_pages - 1 and n_pages > 1 and rng.random() < 0.5:
            pages.append(ScanPage([f"Teikning nr. {n} - {tittel}" if nn else f"Tegning nr. {n} - {tittel}",
                                   f"Sak {sak}", "Fasade mot sør" if nn else "Fasade mot sør", "Målestokk 1:100"],
                                  drawing=True))
            continue
        lines = ["Stord kommune - Byggesak", f"Sak {sak}", tittel, ""] if n == 0 else [f"Side {n + 1}", ""]
        lines += rng.sample(body, 4)
        p = ScanPage(lines)
        if plant and n == 0:
            num = rng.choice(valid)
            p.lines.append(f"{'Fødselsnummer' if nn else 'Fødselsnummer'} søkjar: {num}" if nn else
                           f"Fødselsnummer søker: {num}")
            p.planted.append(num)
            if rng.random() < 0.5:
                dec = rng.choice(decoys)
                p.lines.append(f"Referanse {dec}")
                p.decoys.append(dec)
        p.lines += ["", "Med helsing" if nn else "Med hilsen", rng.choice(NAMN) + ", sakshandsamar"]
        pages.append(p)
    return pages


def render_scans(out_dir: Path, valid: list[str], decoys: list[str]) -> dict[str, list[ScanPage]]:
    """The vendor's loose scans: TIFF/PDF files and indeks.csv (its own column names, mapped in dataset.yml)."""
    rng = random.Random(SEED + 2)
    out_dir.mkdir(parents=True, exist_ok=True)
    for old in out_dir.iterdir():
        old.unlink()
    rows = ["Filnamn;Gardsnr;Bruksnr;Saksnr;Tittel;Dato;Dokumenttype"]
    parcels = [p for p in load_generator(HERE.parent / "eigedomar").parcels() if not p["fnr"]]
    done: dict[str, list[ScanPage]] = {}
    for n in range(8):
        p = rng.choice(parcels)
        sak = f"{1978 + n}/{rng.randint(1, 40)}"
        tittel = f"Gnr {p['gnr']} Bnr {p['bnr']} - {rng.choice(TILTAK)}"
        pages = scan_letter(rng, sak, tittel, valid, decoys, rng.randint(2, 4), plant=n % 2 == 0)
        name = f"skann_{n + 1:03d}.{'tif' if n % 2 else 'pdf'}"
        (out_dir / name).write_bytes(_scan_tiff(pages, rng) if n % 2 else _scan_pdf(pages, rng))
        dato = f"{1978 + n}-0{rng.randint(1, 9)}-1{rng.randint(0, 9)}"
        rows.append(f"{name};{p['gnr']};{p['bnr']};{sak};{tittel};{dato};{'Teikning' if n % 3 == 2 else 'Brev'}")
        done[name] = pages
    (out_dir / "indeks.csv").write_text("\n".join(rows) + "\n", encoding="utf-8")
    return done


def _fasit(scans: dict[str, list[ScanPage]]) -> dict:
    return {name: [{"tekst": "\n".join(p.lines), "planta": p.planted, "lokkar": p.decoys} for p in pages]
            for name, pages in sorted(scans.items())}


def planted() -> tuple[list[str], list[str]]:
    """The generator's (valid, decoy) numbers as typed, for the tests."""
    rng = random.Random(SEED)
    parcels = load_generator(HERE.parent / "eigedomar").parcels()
    rng.sample([p for p in parcels if not p["fnr"]], N_SAKER - 8)
    return planted_numbers(rng)


if __name__ == "__main__":
    generate()
