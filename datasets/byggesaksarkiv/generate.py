"""Seeded synthetic Noark 5 (v3.1) arkivuttrekk of Stord's byggesak archive, over the synthetic matrikkel.

SYNTHETIC: names, numbers and letters are invented. 520 byggesaker on parcels of datasets/eigedomar (filed in a
GBN klassifikasjonssystem with klasseID "gnr/bnr", and the title "Gnr 12 Bnr 345 - Tilbygg" as municipalities
write it; a few saker name a property that is not in the matrikkel, or none). Journalpostar (søknad, nabovarsel,
vedtak, ferdigattest) with private korrespondanseparter (address, e-mail, phone), some skjerma (offentligTittel,
skjermingshjemmel, skjermingDokument), and typed letters as small text PDFs with their SHA-256 and size.

Planted identifiers, so screening can be tested: valid fødselsnummer (today's rule and the 2032 rule), D- and
H-nummer and kontonummer in titles and letters, in the forms people type them; and numbers with a wrong check
digit that must NOT be flagged. `PLANTED` (valid) and `DECOYS` (invalid) list them for the tests.
"""

from __future__ import annotations

import hashlib
import io
import random
import shutil
import uuid
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


def generate(out: Path = OUT) -> dict[str, Path]:
    rng = random.Random(SEED)
    parcels = load_generator(HERE.parent / "eigedomar").parcels()
    chosen = rng.sample([p for p in parcels if not p["fnr"]], N_SAKER - 8)
    valid, decoys = planted_numbers(rng)
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
        by_gnr.setdefault(key, []).append(_sak_xml(rng, i, year, seq, tittel, valid, decoys, docs))
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
 <systemID>{_uid(rng)}</systemID>
 <tittel>Stord kommune - byggesaksarkiv (SYNTETISK)</tittel>
 <arkivstatus>Avsluttet</arkivstatus>
 <dokumentmedium>Elektronisk arkiv</dokumentmedium>
 <opprettetDato>1995-01-01T00:00:00</opprettetDato>
 <opprettetAv>Arkivleiar</opprettetAv>
 <avsluttetDato>2024-12-31T00:00:00</avsluttetDato>
 <avsluttetAv>Arkivleiar</avsluttetAv>
 <arkivskaper>
  <arkivskaperID>939866914</arkivskaperID>
  <arkivskaperNavn>Stord kommune, byggesak</arkivskaperNavn>
 </arkivskaper>
 <arkivdel>
  <systemID>{_uid(rng)}</systemID>
  <tittel>Byggesaker 1995-2024</tittel>
  <arkivdelstatus>Avsluttet periode</arkivdelstatus>
  <dokumentmedium>Elektronisk arkiv</dokumentmedium>
  <opprettetDato>1995-01-01T00:00:00</opprettetDato>
  <opprettetAv>Arkivleiar</opprettetAv>
  <avsluttetDato>2024-12-31T00:00:00</avsluttetDato>
  <avsluttetAv>Arkivleiar</avsluttetAv>
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
    (out / "arkivstruktur.xml").write_text(body, encoding="utf-8")
    for xsd in ("arkivstruktur.xsd", "metadatakatalog.xsd"):  # an extract ships its schemas
        shutil.copyfile(XSD / xsd, out / xsd)
    return {"uttrekk": out / "arkivstruktur.xml"}


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


def planted() -> tuple[list[str], list[str]]:
    """The generator's (valid, decoy) numbers as typed, for the tests."""
    rng = random.Random(SEED)
    parcels = load_generator(HERE.parent / "eigedomar").parcels()
    rng.sample([p for p in parcels if not p["fnr"]], N_SAKER - 8)
    return planted_numbers(rng)


if __name__ == "__main__":
    generate()
