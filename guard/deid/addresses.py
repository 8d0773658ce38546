"""Street addresses and postal codes the way people in many countries write them.

One engine serves two recognizers: `street_address()` (entity STREET_ADDRESS: street
lines, unit and building lines, PO boxes, US military mail) and `postal_code()`
(entity POSTAL_CODE: postal codes that stand in address context).

How it works, once per document. One pass splits the text into words and looks each
up in the word tables (a set lookup per word); the shape regexes (the `regex` module,
for Unicode letter classes) are then tried only at the few words where they can start:
at a street-type, unit or box word, or at one of the words just before it on its line.
No regex runs a long alternation at every position of the text.

1. Atoms. Regexes built from per-language word tables find the pieces of an address:
   - street: a house number before or after a street name that carries a street-type
     word, before the name ("rue", "ul.", "Jalan"), after it ("Street", "utca",
     "iela", "Caddesi") or glued to it ("Kirkkokatu", "Drottninggatan", "Hauptstraße");
     a street named by an adjective or genitive with its number ("Dlouhá 5", "Ιθάκης 25");
     CJK, Korean and Japanese block numbers too;
   - house: a numbered house, plot, block or lot ("No. 17", "Blk 456", "Lot 9");
   - unit: apartment, suite, floor, door, staircase ("Apt 4B", "3. tv.", "kv. 12");
   - box: PO boxes in many languages and US military mail ("PSC 1234, Box 5678",
     "APO AE 09876");
   - weak street: a street-type word and name without a number, or a name and a
     number without a street-type word ("Περικλή 37"): an address only next to others.
2. Runs. Atoms joined only by separators, short place names (towns, districts,
   building names) or lines of them form one address. A run is reported when it
   holds a street, box or military atom, a house with another part, or two units
   (one of them a flat, suite or floor); a weak street needs a postal code, a unit or
   a house next to it.
3. Blocks. Runs cross line breaks (not blank lines): a unit line before or after the
   street line, town and region lines, the postcode line ("Curitiba - PR", "00170
   Helsinki"); the rest of the last line when it is a town, region, postcode or
   country, and a country line under it ("PORTUGAL"). Each line is one span, so the
   text keeps its line breaks when redacted.
4. Labels. "Address:", "Anschrift:", "Διεύθυνση:", "ship to" ... cover the rest of
   their line (or the lines under a label that ends its line) when it holds an
   address part, or only place names ("Address: Negril, Westmoreland"). After an
   inline phrase ("lives at", "my address is", "moved to", "shipped to") a house number
   and capitalised words, or a street name then its number ("Vránova 52"), are an
   address when a word of it is no English word ("moved to Ward 5" is not).
5. Postal codes: a code inside a run, after a postal label ("PLZ", "CEP", "zip"),
   next to a town at the start of a line or after a comma ("00170 Helsinki",
   "Helsinki 00170") or next to a place spaCy found, or a code whose shape is
   unmistakable (UK, Canada, Ireland, 〒). A bare number never is.

Lower-case chat ("meet me at 45 main st") is matched where a house number is present
and the street-type word is unambiguous; a street-type word alone is never enough.
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import regex
from presidio_analyzer import RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from guard.deid._recognizer import OneEntityRecognizer, make_result

# --- word tables -------------------------------------------------------------------------
# One string of words per language, space-separated; "_" stands for a space inside a
# word. A trailing "." marks an abbreviation: the dot is then optional, except after a
# single letter and for the words of DOT_REQUIRED. Street-type words match in any case;
# those in AMBIGUOUS_SUFFIXES only as written (Title case) or in capitals.

# Abbreviations that are words or name particles without their dot ("Al", "kr", "rod").
DOT_REQUIRED = frozenset(
    "al. pl. ch. cr. os. tv. cl. est. rod. lt. sc. bl. et. ap. bd. cd. sk. pr. int. of. loc. dr. lgo. bo. "
    "col. sec. kel. kec. ed. cj. em. ph. dept. stg. lok. app. sos. intr. fbg. imp. rte. boul. bld. pso. "
    "rda. dg. psje. pje. prol. priv. cda. jr. calz. trav. estr. v.le c.so".split()
)
# Street-type words written before the street name: "rue de la Paix", "ul. Długa".
PREFIX_TYPES: dict[str, str] = {
    "fr": "rue avenue av. bd. boulevard boul. bld. place pl. chemin ch. allée allee impasse imp. quai route rte. "
    "cours passage sentier voie faubourg fbg. rond-point lotissement hameau lieu-dit montée promenade "
    "esplanade cité chaussée drève parvis traverse venelle ruelle carrefour",
    "es": "calle c/ cl. avenida avda. av. paseo pº pso. plaza pza. carrera cra. cr. carretera ctra. "
    "camino ronda rda. travesía callejón pasaje psje. pje. glorieta vía diagonal dg. transversal tv. "
    "circunvalación prolongación prol. privada priv. cerrada cda. andador jirón jr. calzada calz. bulevar "
    "autopista costanera malecón rambla",
    "pt": "rua avenida av. travessa tv. trav. largo lgo. praça pç. pça. praceta alameda al. estrada estr. rodovia "
    "rod. beco calçada ladeira viela servidão quadra qd. vila setor loteamento parque jardim núcleo "
    "residencial chácara sítio viaduto passarela pátio campo lagoa vale esplanada recanto",
    "it": "via viale v.le piazza p.za p.zza piazzale p.le corso c.so vicolo vico strada str. lungomare "
    "lungotevere lungarno salita contrada c.da borgo località loc. frazione fraz. galleria fondamenta rampa "
    "traversa riva rotonda canale stretto incrocio",
    "ro": "strada str. bulevardul bd. b-dul bdul. calea șoseaua soseaua șos. sos. aleea piața piata intrarea "
    "intr. splaiul drumul",
    "pl": "ul. ulica al. aleja aleje pl. plac os. osiedle rondo skwer",
    "ca": "carrer camí avinguda avgda. passeig plaça travessera baixada pujada carreró passatge ptge.",
    "cs_sk_sl_hr": "ulice ulica nám. náměstí námestie třída tř. nábřeží nábrežie trg bulevar avenija "
    "namesti trida nabrezi nabrezie",  # written without diacritics in texts and chat
    "ru_uk_bg": "ул. улица бул. булевард бульвар б-р пр. пр-т просп. проспект пер. переулок пл. площадь "
    "площад ш. шоссе наб. набережная туп. тупик мкр. микрорайон ж.к. вул. вулиця пров. провулок бульв. "
    "площа узвіз шосе алл. аллея алея набережна сквер ulitsa prospekt prosp. pereulok shosse naberezhnaya "
    "vul. vulytsia ploshcha",
    "el": "οδός οδ. λεωφόρος λεωφ. πλατεία πλ. πάροδος odos leoforos leof.",
    "he_ar": "rehov rechov sderot derech shari sharia רחוב רח' שדרות שד' דרך משעול סמטת סמ' כיכר שביל شارع",
    "id_ms": "jalan jl. jln. lorong lrg. gang gg. persiaran lebuh lebuhraya lintang",
    "th": "soi thanon ซอย ซ. ถนน ถ.",
    "vi": "đường phố ngõ ngách hẻm kiệt",
}

# Street-type words written after the street name: "Baker Street", "Váci utca".
SUFFIX_TYPES: dict[str, str] = {
    "en": "street st. avenue ave. av. road rd. boulevard blvd. bvd. drive dr. lane ln. court ct. terrace ter. "
    "terr. parkway pkwy. pky. circle cir. close crescent cres. gardens gdns. grove mews square sq. highway hwy. "
    "trail trl. alley aly. plaza plz. freeway fwy. expressway expy. turnpike tpke. causeway cswy. place pl. "
    "way esplanade promenade parade pde. embankment wynd broadway bypass strand salai marg sarani",
    "hu": "utca u. út útja tér tere körút krt. sétány köz fasor rakpart rkp. liget",
    "lv": "iela bulvāris bulv. prospekts gatve laukums dambis šoseja",
    "lt": "gatvė g. prospektas pr. alėja al. aikštė a. plentas skersgatvis skg.",
    "et": "tänav tn. maantee mnt. puiestee pst. tee põik väljak plats allee",
    "tr": "caddesi cad. cd. sokak sokağı sok. sk. bulvarı blv. bulvar meydanı yolu",
    "az": "küçəsi küç. prospekti döngəsi dalanı şossesi",
    "sl_hr_cs_sk": "cesta ulica trg náměstí nám. třída tř. nábřeží námestie namesti trida nabrezi",
    "de": "straße strasse str. gasse weg platz allee damm ufer ring chaussee",
    "ru_uk": "проспект пр. пр-т просп. переулок пер. шоссе ш. набережная наб. бульвар б-р площадь пл. улица ул. "
    "вулиця вул. провулок пров. prospekt prosp. ulitsa pereulok",
    # Georgian and Armenian, after the name: "ჭავჭავაძის გამზ. 12", "Աբովյան փողոց 5"
    "ka_hy": "ქ. ქუჩა გამზ. გამზირი ჩიხი შესახვევი ხეივანი მოედანი ტუპიკი փողոց փ. պողոտա պող. նրբանցք հրապարակ",
}
# English street-type words that are everyday words too: matched only in Title case or
# capitals, and never as the whole name ("3 Park" is not an address, "3 Elm Park" is).
AMBIGUOUS_SUFFIXES = (
    "Park Point Pt. View Vw. Run Pass Common Commons Green Hill Hl. Walk Row Station Sta. Vale Rise Ridge Rdg. "
    "Landing Manor Summit Track Trace Creek Crk. Estates Glen Hollow Heights Hts. Wharf Yard Quay Market Chase "
    "Bend Loop Path Spur Cove Cv. Knoll Oval Retreat Reach Meadows Mount Mt. Junction Jct. Crossing Xing Pike "
    "Link Mall Brae Dale Fields Field Vista Circus Approach Lanes Gate Apartments Apts Residency Residences Towers "
    "Enclave Mansions Court "
    # the rest of the US Postal Service's street suffixes (Publication 28, appendix C1),
    # full words and the abbreviations no everyday word spells
    "Anex Arcade Bayou Beach Bluff Bluffs Bottom Branch Bridge Brook Brooks Burg Burgs Camp Canyon Cape "
    "Center Centers Circles Cliff Cliffs Club Corner Corners Course Courts Coves Crest Crossroad Crossroads "
    "Curve Dam Divide Drives Estate Extension Extensions Falls Ferry Flats Ford Fords Forest Forge Forges Fork "
    "Forks Fort Garden Gateway Glens Greens Groves Harbor Harbour Harbors Haven Hills Inlet Island Islands Isle "
    "Junctions Keys Knolls Lake Lakes Lights Loaf Locks Lodge Manors Meadow Mill Mills Motorway Mountain "
    "Mountains Neck Orchard Overpass Parks Parkways Passage Pine Pines Plains Points Port Ports Prairie Radial "
    "Ramp Ranch Rapids Ridges River Roads Route Shoal Shoals Shore Shores Skyway Springs Spurs Squares "
    "Stravenue Stream Streets Throughway Trafficway Tunnel Underpass Valley Valleys Viaduct Views Village "
    "Villages Ville Walks Wells Fall Flat Key Land Light Lock Mission Plain Rapid Rest Spring Union Unions Wall "
    "Ways Well "
    "Byu Bch Blf Blfs Btm Br. Brg Brk Brks Cyn Cpe Ctr Ctrs Cirs Clf Clfs Cor Cors Crse Cts Cvs Crst Xrd "
    "Curv Drs Ests Exts Fls Fry Fld Flds Flts Frd Frds Frst Frg Frgs Frk Frks Gdn Gtwy Gln Glns Grn Grns Grv "
    "Grvs Hbr Hbrs Hvn Hls Holw Inlt Jcts Knl Knls Lndg Lgt Lgts Lcks Ldg Mnr Mnrs Mdw Mdws Mls Msn Mtwy "
    "Mtn Mtns Nck Orch Opas Psge Pne Pnes Pln Plns Prt Prts Radl Rnch Rpd Rpds Rdgs Riv Rte Shls Shr Shrs "
    "Skwy Spgs Sqs Stra Strm Smt Trwy Trce Trak Trfy Trlr Tunl Upas Vly Vlys Vws Vlg Vlgs Vis Wls "
    # Australian and New Zealand road types (AS/NZS 4819) that are no plainer English words
    "Alleyway Amble Anchorage Artery Basin Brace Brow Byway Centre Centreway Circlet Circuit Colonnade "
    "Concourse Copse Corso Courtyard Crossway Cruiseway Cul-de-sac Cutting Dell Deviation Driveway Fairway "
    "Firetrail Footway Foreshore Frontage Glade Grange Gully Highroad Laneway Lees Lookout Meander Nook "
    "Outlook Parklands Pathway Piazza Plateau Quad Quadrangle Quadrant Quays Ramble Ridgeway Riverway "
    "Riviera Roadway Ronde Rosebowl Rotary Siding Tarn Thoroughfare Tollway Tor Trunkway Villas Walkway "
    # Indian localities after their name ("Babu Nagar", "Lajpat Colony")
    "Nagar Chowk Ganj Colony Vihar Puram Layout Bagh"
)
# Nordic "gate/vei" after a genitive name: "Karl Johans gate", "Kongens gate".
NORDIC_GENITIVE_TYPES = "gate gata gaten vei veg vej allé plass plads"
# Finnish street words apart after a genitive name, as streets named after people are
# written: "Aleksis Kiven katu", "Bertel Jungin kuja"
FINNISH_GENITIVE_TYPES = "katu tie kuja polku väylä kaari rinne tori aukio ranta raitti puistotie puistokatu"
# Slovene, Croatian and Serbian street words in lower case after an adjective name that the
# suffix table does not hold: "Jazbečeva pot 12", "Jadranska obala 4"
ADJECTIVE_STREET_TYPES = "pot put obala steza nabrežje šetalište prilaz drevored sokak breg"
# Suffixes glued to the street name: "Kirkkokatu", "Hauptstraße", "Keizersgracht".
COMPOUND_SUFFIXES: dict[str, str] = {
    "fi": "katu tie kuja polku väylä kaari rinne tori aukio ranta piha raitti tanhua puistikko portti kulma bulevardi",
    "sv": "gatan vägen gränd torget backen stigen allén leden gata väg platsen",
    "no": "gata gaten veien vegen vei veg plass plassen bakken stien alléen brygga tunet lunden haugen åsen kroken "
    "svingen jordet løkka kollen toppen vollen grenda bråten berget skogen stranda eggen engen roa røa",
    "da": "gade gaden vej vejen allé stræde plads torv vænge vænget",
    "is": "vegur gata stræti braut stígur tún torg hlíð holt hagi sund gerði bakki bær vellir salir lind hæð "
    "mýri garður",
    "de": "straße strasse str. gasse gässli gässchen weg platz allee damm ufer chaussee steig stieg pfad markt "
    "graben zeile twiete brücke steg ring",
    "nl": "straat laan weg gracht plein kade singel dijk dreef steeg wal markt baan steenweg hof",
    "et": "tänav maantee puiestee",
}
# English words that end like a compound street name, Dutch words in -tie ("functie") and
# English words in -ring ("offering", "spring"; German "Kaiserring" follows a consonant).
NOT_COMPOUND = (
    "brigade renegade necktie bowtie cutie sweetie hottie bestie untie strategie allee herring earring keyring"
)
NOT_COMPOUND_ENDINGS = r"(?:[acirsp]tie|[aeiouyptw]ring)"
# Street names that are adjectives or genitives, written before the house number with no
# street word: Czech and Slovak "Dlouhá 5", "Školní 12", "Kapucínská 3"; Croatian, Serbian,
# Slovene and Polish "Ilirska 7", "Zagrebačka 20", "Gajeva 4"; Macedonian, Bulgarian,
# Russian and Ukrainian "Рибарска 8", "Садовая 12"; Greek genitives "Ιθάκης 25"; Armenian
# genitives "Աբովյանի 3". An address only with its number (the shape below); words of
# the same endings that are no street names are listed.
ADJECTIVE_STREET = (
    r"(?:[\p{Lu}][\p{Ll}\p{M}]{2,}(?:[bcčdďfghjklľmnňprřsštťvzž]á|[bcčdďfghjklľmnňprřsštťvzž]ní|ova|[čćšžjcđ]eva"
    r"|(?<=[^a])ska|[čšc]k[ae])"
    r"|[Α-ΩΆΈΉΊΌΎΏ][α-ωάέήίόύώϊϋΐΰ]{2,}(?:ου|ού|ας|(?<![σξψ])ης|ών|ων)"
    r"|[А-ЯЁЇІЄҐЃЌЅЈЉЊЋЏ][а-яёїієґѓќѕјљњћџ]{2,}(?:ска|цка|шка|чка|ская|цкая|ська|цька|ова|ева)"
    r"|[\u0531-\u0556][\u0561-\u0587]{2,}ի"
    # the same in capitals, as on receipts and envelopes ("ΙΘΑΚΗΣ 8")
    r"|[A-ZÁČĎÉĚÍĽŇÓŘŠŤÚŮÝŽĆĐ]{3,}(?:[BCČDĎFGHJKLĽMNŇPRŘSŠTŤVZŽ]Á|[BCČDĎFGHJKLĽMNŇPRŘSŠTŤVZŽ]NÍ|OVA|[ČĆŠŽJCĐ]EVA"
    r"|(?<=[^A])SKA|[ČŠC]K[AE])"
    r"|[Α-ΩΆΈΉΊΌΎΏΪΫ]{3,}(?:ΟΥ|ΟΎ|ΑΣ|ΆΣ|(?<![ΣΞΨ])ΗΣ|ΩΝ|ΏΝ)"
    r"|[А-ЯЁЇІЄҐЃЌЅЈЉЊЋЏ]{3,}(?:СКА|ЦКА|ШКА|ЧКА|СКАЯ|ЦКАЯ|СЬКА|ЦЬКА|ОВА|ЕВА))"
)
NOT_ADJECTIVE_STREET = (
    "está será estará habrá podrá tendrá hará dará irá mamá papá allá acá polska hrvatska moldova genova padova "
    "mantova casanova villanova terranova supernova jehova молдова ιανουαρίου φεβρουαρίου μαρτίου απριλίου μαΐου "
    "ιουνίου ιουλίου αυγούστου σεπτεμβρίου οκτωβρίου νοεμβρίου δεκεμβρίου άρθρου κεφαλαίου"
)
# Czech and Slovak streets named with a preposition: "U Nádraží 5", "Na Příkopě 12"
CZECH_PREPOSITIONS = "Na Nad Pod U Za Před Pred Při Pri Ke Ve"
# Korean road suffixes, romanised with a hyphen ("Teheran-ro") or in Hangul ("테헤란로").
KOREAN_ROAD = "daero ro gil"
HANGUL_ROAD = "대로 로 길"

# Words before a house, plot or block number: "H.No. 8-2-293", "Blk 456", "Lot 9".
HOUSE_WORDS: dict[str, str] = {
    "en": "house house_no. h.no. h._no. plot plot_no. lot blk. block villa stand building bldg. bungalow door_no. "
    "old_no. new_no. building_no. bldg._no. holding holding_no.",
    "es_pt": "casa lote lt. mz. manzana",
    "other": "dom д. дом буд. kav. kavling blok moo หมู่ ม. br. rt. فيلا مکان_نمبر বাড়ি বাড়ি_নং বাড়ী_নং বাসা_নং হোল্ডিং_নং বিল্ডিং_নং bina",
}
# Number marks that make a house number only where an address part starts (after a
# line break, a comma or a field label): "No. 17, 2nd Floor" but not "Payroll no. 5".
NUMBER_WORDS = "no. nr. nº n° n.º núm. num. número numer číslo č. sz. số"
# Apartment, suite, floor, door, staircase and building-part words: "Apt 4B", "kv. 12".
UNIT_WORDS: dict[str, str] = {
    "en": "apt. apartment unit suite ste. flat room rm. floor fl. level lvl. tower twr. wing office shop "
    "studio penthouse villa",
    "fr": "appt. appartement app. apt. bât. bâtiment bat. esc. escalier étage etage porte bte. boîte imm. "
    "immeuble résidence",
    "es": "piso depto. dpto. dto. departamento apto. apartamento unidad int. interior puerta pta. esc. escalera of. "
    "oficina local torre bloque edificio edif. casa",
    "pt": "apto. ap. apartamento bloco bl. sala loja andar conjunto cj. casa edifício ed.",
    "it": "interno int. scala sc. piano",
    "de": "whg. wohnung stiege stg. top tür app. haus",
    "nl": "bus bte.",
    "nordic": "lgh. lägenhet lejl. leil. as. asunto íbúð h.",
    "cs_pl_ro_hu": "byt m. lok. lokal bl. sc. et. ap. ajtó lph. em. emelet",
    "ru_uk_bg": "кв. квартира корп. корпус стр. строение оф. офис эт. этаж под. подъезд вх. ет. ап. kv. korp. "
    "pom. пом. к.",
    "tr": "daire d. kat k. blok",
    "asia": "căn_hộ phòng tầng lô tòa purok sitio phase ফ্ল্যাট ফ্ল্যাট_নং",
    "hy_az": "բն. բնակարան mənzil",
}
# Unit words that make a run of units alone an address ("Tower B, 5th Floor").
STRONG_UNITS = frozenset(
    "apt apartment unit suite ste flat floor appt appartement piso depto dpto apto apartamento andar whg "
    "wohnung lgh kv кв квартира daire room".split()
)
# Words of a home: with its number alone it is an address ("dpto. 708", "apt 4B", a house
# of a gated community: "casa 9", "Villa 12").
HOME_UNITS = frozenset(
    "apt apartment flat appt appartement depto dpto apto apartamento departamento unidad whg wohnung lgh "
    "lägenhet kv кв квартира daire casa villa".split()
)
# Ordinal floors and their words: "22nd floor", "7º andar", "3. tv.", "4 tr", "II. em.".
FLOOR_WORDS = (
    "floor fl. andar piso planta étage etage stock og. etasje sal krs. kerros kat em. emelet et. etaj piętro "
    "p. patro этаж эт. поверх tr. trappor th. tv. mf. izq. izda. izqda. dcha. dch. dta. dto. esq. drt. dr."
)
# PO boxes. Strong ones are an address alone; weak ones ("Box 12", "BP 7") only in a run.
STRONG_BOXES = (
    "p.o._box p._o._box po_box p.o.box pob. p.o.b. post_office_box gpo_box locked_bag private_bag postfach pf. "
    "apartado_de_correos apartado apdo. caixa_postal cx._postal casilla_de_correo casilla_de_correos casilla "
    "casella_postale boîte_postale boite_postale case_postale postboks postbox postbus skrytka_pocztowa "
    "posta_kutusu postilokero a/я а/я абонентский_ящик"
)
WEAK_BOXES = "box bp. b.p. pl. p.l. p.k. rd. rmb. ccp."
# Labels of address fields; the value follows a colon (or the label ends the line).
ADDRESS_LABELS: dict[str, str] = {
    "en": "address addr. home_address mailing_address postal_address billing_address shipping_address "
    "delivery_address street_address residential_address permanent_address perm._address present_address "
    "current_address registered_address correspondence_address business_address office_address "
    "residence flat_address ship_to deliver_to send_to mail_to bill_to return_address",
    "fr_de_nl": "adresse anschrift wohnadresse wohnanschrift lieferadresse rechnungsadresse adres adresse_postale "
    "domicile",
    "es_pt_it": "dirección direccion domicilio endereço endereco morada indirizzo residenza recapito",
    "nordic_baltic": "osoite katuosoite adress postadress aadress adrese adresas heimilisfang",
    "central_eastern": "adresa adresă cím lakcím διεύθυνση адрес адреса adresi",
    "asia": "alamat địa_chỉ ที่อยู่ 주소 住所 地址 पता ঠিকানা پتہ العنوان عنوان כתובת نشانی",
}
# Phrases that introduce an address inline: "lives at 12 ...".
ADDRESS_PHRASES = (
    "lives at|live at|living at|lived at|located at|moved to|moving to|resides at|residing at|reside at|"
    "staying at|based at|ship to|deliver to|send it to|send to|mail it to|mail to|domiciliad[oa] en|"
    "con domicilio en|residente en|vive en|wohnhaft in|wohnt in|demeurant|domicilié à|domiciliée à|"
    "residente in|abito in|mora em|mora na|mora no|asuu|bor på|address is|address was|address will be|"
    "address now is|address has changed to|address changed to|"
    # the same in other languages: Greek, Russian, Ukrainian, Polish, Czech, Dutch, Italian,
    # Portuguese, French, Spanish, Romanian, German
    "κάτοικος|κάτοικοι|διαμένει στην|διαμένει στον|διαμένει στο|μένει στην|μένει στον|μένει στο|"
    "проживает по адресу|проживающий по адресу|проживающая по адресу|по адресу|за адресою|"
    "zamieszkały przy|zamieszkała przy|mieszka przy|bytem|bydlí na|bydlí v|woont aan|woont op|"
    "woonachtig aan|wonende aan|abita in via|residente na|residente no|morador na|morador no|moradora na|"
    "habite au|habite rue|réside au|demeurant au|domicilié au|domiciliée au|reside en|vivo en|"
    "domiciliat în|domiciliată în|locuiește pe|wohne in"
)
# Phrases that send something to a place: an address follows only when its shape says so
# (a street name that is no English word, or a street-type word), never a number and
# plain words ("forwarded to 3 Specialists").
SEND_PHRASES = (
    "send the parcel to|send the package to|send the letter to|send the documents to|send the card to|"
    "ship it to|ship the parcel to|ship the package to|ship the order to|deliver it to|deliver the parcel to|"
    "deliver the package to|forward it to|forward my mail to|post it to|mail the letter to|sent to|shipped to|"
    "delivered to|mailed to|posted to|forwarded to|relocated to|relocating to|moved into|moving into"
)
# Labels of postal-code fields: "PLZ 10115", "CEP: 01310-100".
POSTAL_LABELS = (
    "zip|zip_code|zipcode|postal_code|postcode|post_code|postal|plz|postleitzahl|cep|c.p.|cp|código_postal|"
    "codigo_postal|cod._postal|code_postal|cap|pin|pin_code|pincode|postinumero|postnummer|postnr.|"
    "irányítószám|irsz.|t.k.|τ.κ.|τκ|индекс|почтовый_индекс|індекс|kod_pocztowy|psč|poskod|kode_pos|"
    "sihtnumber|pasta_indekss|pašto_kodas|posta_kodu|eircode|우편번호|邮编|郵遞區號|รหัสไปรษณีย์"
)
# Country names (English and native) that may close an address block.
COUNTRIES = (
    "usa|u.s.a.|united_states|united_states_of_america|uk|u.k.|united_kingdom|great_britain|england|scotland|"
    "wales|northern_ireland|ireland|éire|canada|australia|new_zealand|france|belgium|belgique|belgië|"
    "germany|deutschland|austria|österreich|switzerland|schweiz|suisse|svizzera|netherlands|nederland|"
    "luxembourg|denmark|danmark|norway|norge|sweden|sverige|finland|suomi|iceland|ísland|estonia|eesti|"
    "latvia|latvija|lithuania|lietuva|poland|polska|czechia|czech_republic|česko|slovakia|slovensko|hungary|"
    "magyarország|romania|românia|bulgaria|greece|ελλάδα|hellas|russia|россия|ukraine|україна|turkey|türkiye|"
    "spain|españa|portugal|italy|italia|malta|cyprus|croatia|hrvatska|slovenia|slovenija|serbia|srbija|"
    "brazil|brasil|mexico|méxico|argentina|chile|colombia|peru|perú|india|pakistan|bangladesh|japan|日本|"
    "south_korea|korea|대한민국|china|中国|taiwan|hong_kong|singapore|malaysia|indonesia|philippines|thailand|"
    "vietnam|việt_nam|south_africa|nigeria|kenya|egypt|morocco|maroc|israel|uae|united_arab_emirates"
)
# Words that end an address and are no town: greetings and titles always; the labels of
# phone numbers, mail and form fields when a colon or a number follows ("Tel: ...",
# "Blatt 1229", but "Mobile, AL" is a town).
GREETINGS = "dear|hi|hello|regards|thanks|attn|attn.|subject|mr|mrs|ms|dr|sgt|cc|nb"
FIELD_LABELS = (
    "tel|tel.|phone|ph|ph.|mob|mob.|mobile|cell|cel|cel.|fax|email|e-mail|mail|web|www|ref|ref.|date|dob|name|"
    "tlf|puh|tél|handy|móvil|celular|tfno|t|m|e|p|f|whatsapp|from|to|note|notes|contact|id|no|nr|form|order|"
    "invoice|ticket|case|model|item|part|serie|folio|blatt|page|seite|account|acct|policy|member|patient|gate|"
    "flight|code|pin|fono|cel\\.|batch|lot|sku|serial|version|ver|release|product|art|artikel|ean|upc|"
    "reference|référence|factura|rechnung|pedido|tracking|연락처|전화|電話|电话|手机|携帯|tel\u00e9fono|telefone|telefon|puhelin|"
    # tax numbers: Greek, Spanish, Italian, Portuguese, French, German
    "αφμ|τηλ|nif|cif|p.iva|nipc|siret|siren|ust-idnr"
)
# Particles inside street and place names: "Avenida de la Constitución", "Unter den Linden".
CONNECTORS = (
    "de|del|de_la|de_las|de_los|da|do|dos|das|di|della|delle|dei|degli|du|des|la|le|les|l'|d'|von|van|der|den|"
    "het|y|e|i|et|am|an|auf|im|zum|zur|al|el|bin|ben|ter|of|the|on|upon|sur|sous|en|au|aux|in|op|ha|ha-|st.|"
    "san|santa|são|saint|sankt|nad|pod|pri|na|aan|bij|bei|ob|sa"
)
# Words that are no street name in lower case chat: "3 more days on the road".
NOT_NAME_LOWER = (
    "the|a|an|of|in|on|at|to|for|and|or|my|your|his|her|our|their|this|that|these|those|with|from|by|per|more|"
    "less|other|than|new|old|big|small|few|many|some|all|any|each|every|no|not|is|are|was|were|be|am|i|we|you|"
    "he|she|it|they|me|us|them|what|which|who|when|where|why|how|lane|lanes|mile|miles|km|minute|minutes|min|"
    "mins|hour|hours|hr|hrs|day|days|week|weeks|month|months|year|years|yr|yrs|time|times|people|person|car|"
    "cars|way|ways|story|storey|stories|bedroom|bed|bath|block|blocks|door|doors|stop|stops|step|steps|"
    "kids|dogs|cats|friends|guys|of|just|very|too|also|down|up|over|across|along|off|between|around|before|after|"
    "until|till|today|tomorrow|tonight|yesterday|then|now|later|soon|there|here"
)
# Lower-case street-type words unambiguous enough for chat: "45 main st".
CHAT_SUFFIXES = (
    "street|st|st.|avenue|ave|ave.|road|rd|rd.|boulevard|blvd|blvd.|lane|ln|drive|parkway|pkwy|terrace|crescent|"
    "highway|hwy|plaza|alley|cres|mews|apts|apartments"
)
# What may follow a house number but makes it a quantity, time, dose or price. The unit
# words end a word: "12 Clark Street", "7 Second Avenue", "5 Copper Lane" are addresses
# (a unit that only began the next word, "cl", "sec", "cop", once made them quantities).
QUANTITY_WORDS = (
    "kgs?|mg|mcg|µg|mls?|cl|km|kw|kwh|rpm|dkk|sek|nok|chf|pln|czk|huf|kč|zł|lei|mxn|ars|cop|clp|brl|inr|jpy|"
    "cny|krw|m2|cm|mm|mph|min|secs?|eur|usd|gbp|pcs|people|times|percent|tablets?|mmhg|bpm|mmol|kcal"
)
NOT_AFTER_NUMBER = (
    f"(?:{QUANTITY_WORDS})(?![\\p{{L}}\\p{{M}}])|"
    "%|°|€|\\$|£|x\\b|m\\b(?!\\.)|v\\b|kr\\b|kr\\.|ft\\b|tl\\b|₺|₹|rs\\b|rm\\b|rp\\b|₱|¥|円|元|₩|r\\$|m²|"
    "km/h|h\\b|hrs?\\b|hours?\\b|mins?\\b|minutes?\\b|days?\\b|weeks?\\b|months?\\b|years?\\b|yrs?\\b|am\\b|pm\\b|"
    "a\\.m\\.|p\\.m\\.|units?\\b|persons?\\b|tabs?\\b|doses?\\b|"
    "st\\b(?!\\.?[ \t]+(?-i:\\p{Lu}))|nd\\b|rd\\b|th\\b|x\\d|:\\d|[.,]\\d|/\\d{2,4}\\b(?!\\s*\\p{Lu})"
)
# US states and territories, Canadian provinces, Australian states, Brazilian states and
# the US military "states": the two- or three-letter region before a postal code.
REGIONS = (
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY NC ND "
    "OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR VI GU AS MP FM MH PW AA AE AP ON QC BC AB MB SK NS NB NL PE YT NT NU "
    "NSW VIC QLD TAS ACT SP RJ MG RS BA PE CE GO DF ES SC PB RN AM"
)


# --- regex building blocks -----------------------------------------------------------------


def _words(*tables: str) -> list[str]:
    """The words of one or more tables, "_" read as a space."""
    return [w.replace("_", " ") for t in tables for w in t.split()]


def _alt(words: Sequence[str], dot_required: frozenset[str] = DOT_REQUIRED) -> str:
    """An alternation of words, longest first; a trailing dot is optional on abbreviations
    of two letters or more, and a space inside a word may be left out or doubled."""
    parts = set()
    for w in words:
        core = w[:-1] if w.endswith(".") and len(w) > 2 and w.lower() not in dot_required else w
        esc = regex.escape(core).replace(r"\ ", r"[ \t]*")
        parts.add(esc + (r"\.?" if core != w else ""))
    return "(?:" + "|".join(sorted(parts, key=len, reverse=True)) + ")"


def _alt_bar(words: str) -> str:
    """Like `_alt` for a "|"-separated string."""
    return _alt([w.replace("_", " ") for w in words.split("|")])


LB = r"(?<![\p{L}\p{M}\p{N}_])"  # a word starts here
RB = r"(?![\p{L}\p{M}\p{N}_])"  # a word ends here
# a capitalised (or caseless-script) word, with inner hyphens, apostrophes and dots
# (Georgian's everyday Mkhedruli letters are lower case in Unicode but used as caseless)
CAP_WORD = r"(?:[lLdD]['’])?(?:[\p{Lu}\p{Lt}][\p{L}\p{M}'’]*|[\p{Lo}\p{Georgian}][\p{L}\p{M}]*)(?:[-.’'][\p{L}\p{M}]+)*"
CAP = CAP_WORD + r"\.?"
# a number inside a street name: "5th Avenue", "Calle 47", "Jurong West Street 41"
ORDINAL = r"\d{1,3}(?:(?:st|nd|rd|th|e|er|ème|a|o|º|ª|\.)(?=[ \t,])|(?=[ \t]))"
CONN = rf"(?i:{_alt_bar(CONNECTORS)})"
# at most two particles in a row, never given back: "St" is a word and a particle, and
# "St St St ..." must not backtrack through every way of reading it (minutes at 100 words)
PARTICLES = rf"(?:{CONN}[ \t]+){{0,2}}+"
# a phone or mail label: where the value of an address field ends
PHONE_LABEL = (
    r"(?i:tel|tel\.|phone|ph|mob|mobile|cell|cel|fax|e-?mail|contact|whatsapp|fono|tlf|puh|tél|handy|móvil|celular|"
    r"tfno|telefone|telefon|puhelin|연락처|전화|電話|电话)(?=[ \t]*[:.]?[ \t]*[+(]?\d|[ \t]*[:：])"
)
STOP = rf"(?:(?i:{_alt_bar(GREETINGS)}){RB}|(?i:{_alt_bar(FIELD_LABELS)})(?=[ \t]*[:.#：]|[ \t]*[+(]?\d))"
# "SS 2/24", "U13/S": block codes inside Malaysian and Indonesian street names
CODE_WORD = r"[A-Z]{0,3}\d{1,3}/[A-Z\d]{1,3}(?=[ \t,])"
# a dot ends a word of a street name only as a short abbreviation ("St.", "Gral."): a full
# stop after a longer word ends the sentence ("... 3580 Geilo. Key is in the box")
CAP_ABBR = rf"{CAP_WORD}(?:(?<=(?:^|[^\p{{L}}])[\p{{Lu}}\p{{Lo}}][\p{{L}}]{{0,3}})\.)?"
NAME_WORD = rf"(?:{CODE_WORD}|{CAP_ABBR}|{ORDINAL}|[IVX]{{1,4}}{RB})"
NAME_T = rf"{NAME_WORD}(?:[ \t]+{PARTICLES}{NAME_WORD}){{0,4}}"
LOWER_WORD = rf"(?!(?i:{_alt_bar(NOT_NAME_LOWER)}){RB})\p{{Ll}}[\p{{L}}\p{{M}}'’-]*"
NAME_L = rf"{LOWER_WORD}(?:[ \t]+{PARTICLES}{LOWER_WORD}){{0,3}}"
# a house number: 14, 14a, 14 B 22, 10/12, 12-14, 8-2-293/82/A, 5 bis
HNUM = (
    r"(?!\d{1,2}[/.-]\d{1,2}[/.-](?:19|20)\d\d(?!\d)|(?:19|20)\d\d[/.–-]\d)"  # a date: 03/09/2023, 2023/24
    r"(?!\d{2,4}[ .-]\d{3}[ .-]\d{3,4}(?!\d))"  # a phone number: 0917-552-3048
    r"\d{1,5}(?!\d)(?![.,]\d)(?:[A-Za-zА-Яа-яЁё](?![\p{L}\p{M}]))?"  # (a Cyrillic letter too: "12а")
    # (a range of numbers, "12–14", with a dash or an en dash)
    r"(?:[ \t]?[/–-][ \t]?(?:\d{1,5}[A-Za-z]?|[A-Z]|[IVX]{2,4}|hs|bis)(?![\p{L}\p{M}\d]))*"
    # (a house letter after a space: "14 B"; not "V" or "W", volts and watts: "100–240 V")
    r"(?:[ \t](?:bis|ter|quater|(?![VW](?![\p{L}\p{M}\d]))[A-Z](?:[ \t]\d{1,3})?)(?![\p{L}\p{M}\d]))?"
)
NUMBER_MARK = (
    r"(?:(?i:no|nr|nro|n|nº|n°|n\.º|núm|num)\.?[ \t]?[:.]?[ \t]?|#[ \t]?|№[ \t]?|д\.[ \t]?|дом[ \t]|(?i:số)[ \t])"
)
NUM_END = rf"(?![ \t]?(?i:{NOT_AFTER_NUMBER}))(?!(?:st|nd|rd|th)\b)(?![ \t]\d)"
# a number after the street name: "Via Roma 10", "Calle Mayor, 5", "Bağdat Cad. No: 123"
# ("S/N": sin número, sem número, for a house without one)
NUMPART = rf"(?:,[ \t]?|[ \t]+)(?:(?:{NUMBER_MARK})?{HNUM}{NUM_END}|[Ss]/[Nn][º°]?(?![\p{{L}}\p{{N}}]))"
# a number before the street: not part of an amount, decimal, time or list; after another
# number only when that one is a unit's ("Unit 5 12 Smith Street", Australian usage)
_UNIT_BEFORE = (
    r"(?<![\p{L}\p{M}])(?i:apt\.?|apartment|unit|suite|ste\.?|flat|level|lvl\.?|shop)[ \t]*#?\d{1,5}[A-Za-z]?[ \t]"
)
NUM_FIRST = (
    rf"(?<![\p{{L}}\p{{M}}\p{{N}}.,:/$€£+#-])(?:(?<!\d[ \t])|(?<={_UNIT_BEFORE}))"
    rf"(?:{NUMBER_MARK}?{HNUM}|[A-Z]{{1,2}}-\d{{1,4}}){NUM_END}"
    r"(?:[ \t](?:bis|ter))?"
)

# "Bd" needs its dot in lower case or capitals only ("bd" is short for bed, "BD" for Bangladesh)
PREFIX = rf"(?:(?i:{_alt(_words(*PREFIX_TYPES.values()))})|Bd){RB}"
CHAT_PREFIX = (
    r"(?i:rue|avenue|boulevard|calle|avenida|paseo|carrera|rua|travessa|praça|strada|viale|piazza|ulica|aleja|"
    r"ul\.|jalan|jl\.|jln\.|lorong|ул\.|улица|вул\.|вулиця|проспект|οδός|λεωφόρος|đường|phố|ngõ|hẻm|soi)"
)
SUFFIX = rf"(?i:{_alt(_words(SUFFIX_TYPES['en']), dot_required=frozenset())}|{_alt(_words(*list(SUFFIX_TYPES.values())[1:]))}){RB}"
AMBIGUOUS = rf"(?:{_alt(_words(AMBIGUOUS_SUFFIXES), frozenset())}|{_alt([w.upper() for w in _words(AMBIGUOUS_SUFFIXES)], frozenset())}){RB}"
CHAT_SUFFIX = rf"(?:{_alt_bar(CHAT_SUFFIXES)}){RB}"
CHAT_SUFFIX_FOREIGN = (
    r"(?i:utca|út|tér|iela|gatvė|tänav|maantee|caddesi|cad\.|sokak|sok\.|bulvarı|prospekt|проспект|улица)"
)
COMPOUND_TAIL = rf"(?i:{_alt(_words(*COMPOUND_SUFFIXES.values()))})"
COMPOUND = (
    rf"{LB}(?!(?i:{_alt(_words(NOT_COMPOUND))}|[\p{{L}}-]*{NOT_COMPOUND_ENDINGS}){RB})"
    rf"[\p{{L}}][\p{{L}}\p{{M}}'’-]{{2,40}}?{COMPOUND_TAIL}(?![\p{{L}}\p{{M}}\p{{N}}_])"
)
NORDIC_GENITIVE = (
    rf"(?:{CAP}[ \t]+)?[\p{{Lu}}][\p{{L}}]+(?:s[ \t]+(?i:{_alt(_words(NORDIC_GENITIVE_TYPES))})"
    rf"|n[ \t]+(?i:{_alt(_words(FINNISH_GENITIVE_TYPES))})){RB}"
)
GERMAN_PREFIX = (
    r"(?:Am|An[ \t]+der|An[ \t]+den|Auf[ \t]+der|Auf[ \t]+dem|Im|In[ \t]+der|Zum|Zur|Unter[ \t]+den|Hinter[ \t]+der)"
)
HOUSE = rf"(?i:{_alt(_words(*HOUSE_WORDS.values()))})"
NUMBER_MARK_WORDS = rf"(?i:{_alt(_words(NUMBER_WORDS))})"
UNIT = rf"(?i:{_alt(_words(*UNIT_WORDS.values()))})"
FLOOR = rf"(?i:{_alt(_words(FLOOR_WORDS))})"
UNIT_ID = (
    r"(?:[A-Z]{0,3}-?\d{1,5}[A-Za-z]?(?:[-/](?:\d{1,5}[A-Za-z]?|[A-Z]))*|[A-Z]{1,2}\d{0,3}|[IVX]{1,4}"
    r"|[A-Z](?:-[A-Z\d]{1,4})+)(?![\p{L}\p{M}\d])"
)
STRONG_BOX = rf"(?i:{_alt(_words(STRONG_BOXES))})"
WEAK_BOX = rf"(?:{_alt([w.upper() for w in _words(WEAK_BOXES)])}|Box|Bag)"
MILITARY = (
    r"(?:(?:PSC|CMR|Unit)[ \t]?\d{3,6},?[ \t]+Box[ \t]?\d{1,5}|(?:APO|FPO|DPO)[ \t]+(?:AA|AE|AP)"
    r"(?:[ \t]+\d{5}(?:-\d{4})?)?(?![\p{L}\d]))"
)
SHIP = r"(?:USS|USNS|USCGC)[ \t]+[\p{Lu}][\p{L}.'-]*(?:[ \t]+[\p{Lu}][\p{L}.'-]*){0,3}(?:[ \t]+\(?[A-Z]{2,4}[- ]?\d{1,4}\)?)?"
# (A romanised road name has few inner hyphens or dots: with any number of them, a name
# could start at every letter of ".中.中.中..." and run to its end, quadratic in the text.)
_ROAD_NAME = CAP_WORD.replace(r"[\p{L}\p{M}]+)*", r"[\p{L}\p{M}]+){0,3}") + r"\.?"
KOREAN = (
    rf"(?:{NUM_FIRST},?[ \t]+{_ROAD_NAME}-(?:{'|'.join(KOREAN_ROAD.split())}){RB}"
    rf"|{LB}{_ROAD_NAME}-(?:{'|'.join(KOREAN_ROAD.split())})(?:[ \t]+\d{{1,3}}-?gil)?{NUMPART}"
    rf"|(?<![\p{{Hangul}}\d])(?:\p{{Hangul}}+(?:특별시|광역시|시|도|구|군|읍|면|동)[ \t]+){{0,4}}[\p{{Hangul}}\d]+(?:{'|'.join(HANGUL_ROAD.split())})(?:[ \t]?\d+번?길)?[ \t]+\d{{1,5}}(?:-\d{{1,4}})?)"
)
# The kana/kanji run before the number is tried only from its first character: a
# run that may start anywhere made long text without spaces quadratic (24,000
# characters took 9 s); a match from inside a run is never the leftmost one.
JAPANESE = (
    r"(?:(?<![\p{Han}\p{Katakana}\p{Hiragana}ー])[\p{Han}\p{Katakana}\p{Hiragana}ー]*\d+丁目[ \t]?\d+"
    r"(?:[-－−ー番]\d+){0,2}(?:番地?|号)?"
    r"|(?<!\p{Han})[\p{Han}]+\d+番地?(?:\d+号?)?"
    rf"|{LB}\d{{1,2}}-\d{{1,2}}-\d{{1,3}}[ \t]+{CAP})"
)
# (numbers may stand between spaces: "光明路二段 18 號 3 樓")
CHINESE = (
    r"[\p{Han}\d]{1,30}?(?:大道|路|街|道|巷|弄|里)(?:[\p{Han}\d]{1,3}段)?(?:[ \t]?\d+[ \t]?[巷弄])*[ \t]?\d+[ \t]?[号號]"
    r"(?:之\d+)?(?:[ \t]?[\p{Han}A-Za-z\d]{0,12}?(?:[ \t]?\d+[ \t]?(?:楼|樓|层|層|室|F|幢|栋|棟)|之\d+))*"
)
THAI = (
    # "12/3 ... ถนน X"; without the slash only right before the road or after a village number:
    # "72 หมู่ 12 ถ.X", "5 ถนน X"
    r"(?<![\p{N}.,:/])\d{1,4}(?:/\d{1,4}(?:[ \t]+[\p{Thai}\d]+){0,4}?|(?:[ \t]+(?:หมู่|ม\.)(?:ที่)?[ \t]?\d{1,3})?)"
    r"[ \t]+(?:ถ\.|ถนน|ซ\.|ซอย)[ \t]?[\p{Thai}\d]+"
)

# Street shapes with a house number (strong atoms).
STREET_SHAPES = {
    "number_prefix_type": rf"{NUM_FIRST},?[ \t]+{PREFIX}[ \t]+(?:{PARTICLES}{NAME_T}(?:[ \t]+\d{{1,3}})?|\d{{1,4}})"
    r"(?![\p{L}\p{N}])",
    "number_name_type": rf"{NUM_FIRST},?[ \t]+(?:{CONN}[ \t]+)?{NAME_T}[ \t]+(?:{SUFFIX}|{AMBIGUOUS})"
    rf"(?:[ \t]+\d{{1,3}}(?![\p{{L}}\p{{N}}]))?",
    "number_compound": rf"{NUM_FIRST},?[ \t]+{COMPOUND}",
    "type_name_number": rf"{LB}{PREFIX}[ \t]+{PARTICLES}{NAME_T}{NUMPART}",
    "name_type_number": rf"{LB}{NAME_T}[ \t]+{SUFFIX}{NUMPART}",
    "genitive_type_number": rf"{LB}{NORDIC_GENITIVE}{NUMPART}",
    "compound_number": rf"{COMPOUND}{NUMPART}",
    "german_prefix": rf"{LB}{GERMAN_PREFIX}[ \t]+{CAP}{NUMPART}",
    "adjective_number": rf"{LB}{ADJECTIVE_STREET}(?:[ \t]+{_alt(_words(ADJECTIVE_STREET_TYPES))})?(?:,[ \t]?|[ \t]+)"
    rf"(?!0|(?:19|20)\d\d(?!\d)){HNUM}{NUM_END}",
    "czech_preposition": rf"{LB}(?:{'|'.join(CZECH_PREPOSITIONS.split())})[ \t]+{CAP_WORD}(?:[ \t]+|,[ \t]?)"
    rf"(?!(?:19|20)\d\d(?!\d)){HNUM}{NUM_END}",
    # a corner, as Latin American addresses name one: "Av. Reforma esq. Calle Luna", "Av. Las
    # Acacias con Av. 21 de Mayo", "calle 72 con 11" ("con" only before a street word or a number)
    "intersection": rf"{LB}{PREFIX}[ \t]+{PARTICLES}{NAME_T}[ \t]+"
    rf"(?:(?i:esq\.|esquina)(?:[ \t]+(?i:con|de))?[ \t]+(?:{PREFIX}[ \t]+{PARTICLES})?{NAME_T}"
    rf"|(?i:con)[ \t]+(?:{PREFIX}[ \t]+{PARTICLES}{NAME_T}|\d{{1,3}}[A-Za-z]?{RB}))",
    "korean": KOREAN,
    "japanese": JAPANESE,
    "chinese": CHINESE,
    "thai": THAI,
}
# The same in lower case chat, where the house number is what makes it an address.
CHAT_SHAPES = {
    "chat_number_name_type": rf"{NUM_FIRST}[ \t]+{NAME_L}[ \t]+(?:{CHAT_SUFFIX}|{CHAT_SUFFIX_FOREIGN}){RB}\.?",
    "chat_type_name_number": rf"{LB}{CHAT_PREFIX}[ \t]+{PARTICLES}{NAME_L}{NUMPART}",
    "chat_name_type_number": rf"{LB}{NAME_L}[ \t]+{CHAT_SUFFIX_FOREIGN}{NUMPART}",
    # a plot or house number first makes any street word an address ("plot 9 marigold close")
    "chat_plot_name_type": rf"{LB}(?i:plot|plot[ \t]no\.?|house[ \t]no\.?|h\.[ \t]?no\.?)[ \t]*\d{{1,5}}[a-z]?,?[ \t]+"
    rf"{NAME_L}[ \t]+{SUFFIX}",
}
# Month and day names: "May 17, 1952" and "28 Oct" are dates, not a name and a number.
MONTHS = (
    r"(?i:jan|feb|mar|apr|may|jun|jul|aug|sep|sept|oct|nov|dec|january|february|march|april|june|july|august|"
    r"september|october|november|december|mon|tue|wed|thu|fri|sat|sun|monday|tuesday|wednesday|thursday|friday|"
    r"saturday|sunday|enero|febrero|marzo|abril|mayo|junio|julio|agosto|septiembre|octubre|noviembre|diciembre|"
    r"janvier|février|mars|avril|mai|juin|juillet|août|septembre|octobre|novembre|décembre|januar|februar|märz|"
    r"juni|juli|oktober|dezember|gennaio|febbraio|aprile|maggio|giugno|luglio|settembre|ottobre|dicembre|"
    r"janeiro|fevereiro|março|maio|junho|julho|setembro|outubro|novembro|dezembro)\.?"
)
NOT_WORD = rf"(?!{MONTHS}{RB}|{STOP})"
# Streets without a number, or a name and a number without a street-type word: an
# address only next to other parts.
WEAK_SHAPES = {
    "type_name": rf"{LB}{PREFIX}[ \t]+{PARTICLES}{NAME_T}",
    "name_type": rf"{LB}(?!{STOP}){NAME_T}[ \t]+(?=[\p{{L}}]{{3}})(?:{SUFFIX}|{AMBIGUOUS})",
    "compound": COMPOUND,
    "name_number": rf"{LB}{NOT_WORD}{CAP}(?:[ \t]+(?:{CONN}[ \t]+)?{NOT_WORD}{CAP}){{0,2}}[ \t]+{NUMBER_MARK}?{HNUM}{NUM_END}",
    "number_name": rf"{NUM_FIRST}[ \t]+{NOT_WORD}{CAP}(?:[ \t]+(?:{CONN}[ \t]+)?{NOT_WORD}{CAP}){{0,3}}",
    "lower_name_number": rf"{LB}{LOWER_WORD}{NUMPART}(?=[ \t]*,[ \t]*{UNIT}(?:(?<=\.)|{RB}))",
}
# Parts: houses, units, floors, districts, boxes.
FLOOR_ORDINAL = (
    rf"(?:(?:\d{{1,2}}(?:st|nd|rd|th|e|er|ème|è|º|ª|°|\.º|\.ª|\.)?|[IVX]{{1,4}}\.|st\.)"
    rf"[ \t]?{FLOOR}(?:[ \t]?\d{{1,4}}[A-Za-z]?\.?|[ \t]?[A-Z](?![\p{{L}}]))?|fsz\.?(?:[ \t]?\d{{1,3}}\.?)?|r/c|(?i:bajo)|EG|OG)"
)
PART_SHAPES = {
    "house": rf"{LB}{HOUSE}(?:(?<=\.)[ \t]?|[ \t]|[ \t]?#[ \t]?){UNIT_ID}",
    "house_number": rf"(?<=(?:^|[\n,;:،])[ \t]*){NUMBER_MARK_WORDS}(?:(?<=\.)[ \t]?|[ \t]){UNIT_ID}",
    "unit": rf"{LB}(?:{UNIT})(?:(?<=\.)[ \t]?|[ \t]|[ \t]?[:#][ \t]?)(?:(?i:no\.?)[ \t]?)?{UNIT_ID}",
    "lead_number": r"(?:(?<=(?:^|[\n:,])[ \t]*)\d{1,4}/\d{1,4}[A-Za-z]?(?=[ \t,])|\d{1,4}/\d{1,4}(?=[ \t]+(?i:moo|หมู่|ม\.)))",
    # a Hungarian floor/door after the house number and its dot: "Rákóczi utca 17. 3/12"
    "floor_door_after_dot": r"(?<=(?i:utca|u\.|út|útja|tér|tere|körút|krt\.|köz|sor|fasor|sétány|rakpart)[ \t]\d{1,4}\.[ \t])"
    r"\d{1,2}/\d{1,3}(?![\d/])",
    # a Catalan floor and door: "287, 2n 1a", "1r 2a"
    "catalan_floor_door": r"(?<![\p{L}\d])\d{1,2}(?:r|n|t|è|º)[ \t]\d{1,2}(?:a|ª)(?![\p{L}\d])",
    # a unit abbreviation without its dot right after the house number ("118 int 4", "64, 3º pta 9")
    "unit_after_number": r"(?<=\d[A-Za-z]?,?[ \t])(?:\d{1,2}[ºª°][ \t])?(?i:int|pta|dpto|depto|apto|esc|lok)[ \t]?\d{1,4}[A-Za-z]?"
    r"(?![\p{L}\p{M}\d])",
    "hash": r"(?<![\p{L}\p{N}#&])#[ \t]?\d{1,5}[A-Za-z]?(?![\p{L}\p{M}\d-])",
    "floor": rf"{LB}{FLOOR_ORDINAL}{RB}\.?",
    "ordinal_floor_letter": r"(?<![\p{L}\p{N}])\d{1,2}(?:\.?º|\.?ª|°)[ \t]?(?:[A-Z]|\d{1,2}ª)(?![\p{L}\d])",
    "hash_unit": r"(?<![\p{L}\p{N}])#[ \t]?\d{1,3}-\d{1,5}(?![\d])",
    "floor_slash": r"(?<![\p{L}\p{N}])\d{1,3}/F(?![\p{L}])",
    "korean_unit": r"(?:[A-Z\d]+동[ \t]?)?\d{1,3}(?:층|호)",
    "cjk_unit": r"[\p{Han}\p{Katakana}A-Za-z\d]{0,12}?(?:[A-Z\d]+座|\d+(?:楼|樓|层|層|室))+\d*",
    "district": rf"{LB}(?:(?i:phường|quận|huyện|sector|zona|zone|district|colonia|col\.|barrio|bo\.|barangay|brgy\.|purok|sitio|phase|ward|sektor|kecamatan|kec\.|kelurahan|kel\.|rt|rw|sec\.)[ \t]+|(?:г|гор|гр|м|пос|ք)\.[ \t]*)(?:\d{{1,3}}[A-Z]?|[IVX]{{1,4}}|{CAP})(?:/\d{{1,3}})?{RB}",
    "indian_cross": rf"{LB}\d{{1,2}}(?:st|nd|rd|th)[ \t]+(?:Cross|Main|Block|Stage|Phase|Sector)(?:[ \t]+(?:Road|Rd\.?|Street))?{RB}",
    "road_number": rf"{LB}(?:Road|Street|Avenue|Lane|Block|Sector|Gali|Soi|Moo)[ \t]+(?:(?i:no)\.?[ \t]?)?\d{{1,3}}[A-Z]?{RB}",
    "hebrew_unit": r"(?:כניסה|קומה|דירה)[ \t]+(?:\d{1,3}|\p{Hebrew}['׳]?)(?![\p{L}\d])",
    "turkish_unit": rf"{LB}(?:D|K|Daire|Kat|Blok)[ \t]?:[ \t]?\d{{1,4}}{RB}",
    "weak_box": rf"{LB}{WEAK_BOX}[ \t]?(?:No\.?[ \t]?)?\d{{1,6}}(?![\d/])",
    "ship": SHIP,
}
BOX = rf"{LB}{STRONG_BOX}[ \t]?(?:(?i:no)\.?[ \t]?|#[ \t]?)?\d{{1,6}}(?![\d/])"

# --- postal codes --------------------------------------------------------------------------

POSTAL_FORMATS = {
    "uk": r"[A-Z]{1,2}\d[A-Z\d]?[ \t]?\d[A-Z]{2}",
    "ca": r"[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z][ \t]\d[ABCEGHJ-NPRSTV-Z]\d",
    "ie": r"(?:[AC-FHKNPRTV-Y]\d{2}|D6W)[ \t](?=[0-9A-Z]{0,3}[A-Z])(?=[0-9A-Z]{0,3}\d)[0-9AC-FHKNPRTV-Y]{4}",
    # Canadian and Irish codes written without their space: only after a label or by a town
    "ca_compact": r"[ABCEGHJ-NPRSTVXY]\d[ABCEGHJ-NPRSTV-Z]\d[ABCEGHJ-NPRSTV-Z]\d",
    "ie_compact": r"(?:[AC-FHKNPRTV-Y]\d{2}|D6W)(?=[0-9A-Z]{0,3}[A-Z])(?=[0-9A-Z]{0,3}\d)[0-9AC-FHKNPRTV-Y]{4}",
    "jp": r"〒[ \t]?\d{3}-?\d{4}",
    "prefixed": r"(?:LT|LV|EE|FI|SE|NO|DK|IS|D|DE|A|AT|CH|F|FR|B|BE|L|LU|NL|I|IT|E|ES|P|PT|PL|CZ|SK|H|HU|RO|BG|GR|HR|SI|CY)"
    r"-\d{3,5}(?:[ \t]?\d{2})?",
    "nl": r"\d{4}[ \t]?(?!SA|SD|SS)[A-Z]{2}",
    "dash": r"\d{5}-\d{4}|\d{5}-\d{3}|\d{4}-\d{3}|\d{3}-\d{4}|\d{2}-\d{3}",
    "spaced": r"\d{3}[ \t]\d{2,3}",
    "ar": r"[A-HJ-NP-Z]\d{4}[A-Z]{3}",
    "digits": r"\d{3,7}",
}
POSTAL = (
    r"(?<![\p{L}\p{N}+.,/:#_])(?<![\p{N}.,/:#_-]-)(?<!\d[ \t])(?:"
    + "|".join(f"(?P<{k}>{v})" for k, v in POSTAL_FORMATS.items())
    + r")(?![\p{L}\p{N}_]|[.,/-]\d|[ \t]\d)"
)
REGION = rf"(?:{'|'.join(sorted(set(REGIONS.split()), key=len, reverse=True))}|N\.L\.|N\.S\.W\.)(?![\p{{L}}\p{{N}}])"
COUNTRY = rf"(?i:{_alt_bar(COUNTRIES)}){RB}"
# "(NA)", "(BS)": an Italian province or Swiss canton after the town
PROVINCE = r"\([A-Z]{2}\)"
# a town, district or building name: up to four capitalised words, no phone or mail label
# inside a place name a word ends with a dot only when it is a short abbreviation
# ("St. Albans", "TP. Hồ Chí Minh"): "JLT. Our" is the end of a sentence
PLACE_INNER = rf"(?:{CAP_WORD}(?<=(?:^|[^\p{{L}}])[\p{{Lu}}][\p{{L}}]?)\.|{CAP_WORD})"
PLACE_WORDS = rf"(?!{STOP})(?=\S\S)(?:{PLACE_INNER}(?:[ \t]+|[ \t]?/[ \t]?)(?:{CONN}[ \t]+)?(?!{STOP})){{0,3}}{CAP}"
PLACE = rf"(?:{PLACE_WORDS}(?:[ \t]+\d{{1,3}}{RB})?)"
# what separates the parts of an address on one line
SEP = r"(?:[ \t]*[,;،][ \t]*|[ \t]+[-–—|·][ \t]+|[ \t]*[–—][ \t]*|[ \t]+)"
# Words before the name of a building, estate or neighbourhood: "Chung cư Sunrise City".
BUILDING = (
    r"(?i:chung[ \t]cư|tòa[ \t]nhà|tòa|khu|edificio|edif\.|edifício|condominio|condomínio|conjunto|residencial|"
    r"résidence|residence|immeuble|imm\.|torre|bloco|fracc\.|fraccionamiento|urbanización|urb\.|villa|cluster|"
    r"pangsapuri|kondominium|taman|kampung|kg\.|perumahan|barangay|brgy\.|subd\.|subdivision|sitio|purok|"
    r"colonia|col\.|barrio|b[º°]|población|pobl\.|asoc\.|asociación|mz\.|manzana|estate|phase|sector|block)"
)
POSTAL_LABEL = rf"(?i:{_alt_bar(POSTAL_LABELS)})[ \t]*(?:[:#.]|no\.?|is|was)?[ \t]*$"
LINE_END = r"[ \t.]*(?:$|\n)"


def _line_end(text: str, pos: int) -> int:
    end = text.find("\n", pos)
    return len(text) if end < 0 else end


def _line_start(text: str, pos: int) -> int:
    return text.rfind("\n", 0, pos) + 1


def _year_like(value: str) -> bool:
    return len(value) == 4 and value.isdigit() and 1900 <= int(value) <= 2099


# --- the engine ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Atom:
    """One piece of an address found by a regex."""

    start: int
    end: int
    kind: str  # street, chat, weak, house, unit, sunit (a suite or floor), home (a flat), part, box, wbox, mil, ship, postal
    rule: str


@dataclass(frozen=True)
class Found:
    """A span the recognizers report."""

    start: int
    end: int
    entity: str  # STREET_ADDRESS or POSTAL_CODE
    score: float
    rule: str


_POSTAL_RX = regex.compile(POSTAL)
_POSTAL_LABEL_RX = regex.compile("(?r)" + POSTAL_LABEL)
# the label after the code: "06940 is my postcode", "11-101 (zip)"
_POSTAL_LABEL_AFTER_RX = regex.compile(
    r"(?i)[ \t]*(?:\([ \t]*(?:zip|zip[ \t]?code|post[ \t]?code|postal[ \t]code)[ \t]*\)|(?:is|was|=)[ \t]+"
    r"(?:(?:my|our|his|her|their|your|the)[ \t]+)?(?:zip(?:[ \t]?code)?|post(?:al)?[ \t]?code|pin[ \t]?code|eircode)\b)"
)
_LABEL_RX = regex.compile(
    rf"(?<![\p{{L}}\p{{N}}])(?<!(?<![\p{{L}}\p{{N}}])(?i:e-?mail|ip|mac|web|wallet|bitcoin|btc|eth|url|server|memory|ipv[46])[ \t])"
    rf"(?i:{_alt(_words(*ADDRESS_LABELS.values()))})(?:[ \t]+[\p{{L}}.]+){{0,2}}[ \t]*(?:\([^)\n]{{0,20}}\)[ \t]*)?"
    r"[:：][ \t]*"
)
_PHRASE_RX = regex.compile(rf"(?<![\p{{L}}])(?:(?P<send>(?i:{SEND_PHRASES}))|(?i:{ADDRESS_PHRASES}))[ \t]+")
_PHRASE_VALUE_RX = regex.compile(
    rf"{NUM_FIRST},?[ \t]+(?P<words>{CAP}(?:[ \t]+(?:{CONN}[ \t]+)?{CAP}){{0,3}})"
    # the street name first, then the house number: "Teplická 814", "Zeleni dol 3b/1"
    rf"|(?P<named>{CAP}(?:[ \t]+(?:{CONN}[ \t]+)?(?:{CAP}|\p{{Ll}}{{2,}})){{0,3}}){NUMPART}"
    rf"(?:/\d{{1,3}}[A-Za-z]?)?(?=[ \t]*(?:$|[\n,.;!?)]|[ \t]\p{{L}}))"
)
_DIGIT_RX = regex.compile(r"\d")
_GAP_SPLIT_RX = regex.compile(r"[,;،\n]|[ \t][-–—/·][ \t]|[–—]")
_FILLER_RX = regex.compile(
    rf"[ \t]*(?:{PLACE}|{REGION}|{COUNTRY}|{BUILDING}[ \t]+{NAME_T}|(?i:{_alt_bar(POSTAL_LABELS)})[ \t]*[:.]?)?[ \t.]*"
)
_TAIL_ITEM = rf"(?:{POSTAL}|{REGION}|{COUNTRY}|{PLACE}|{PROVINCE})"
_TAIL_END = (
    rf"[ \t]*(?:$|\n|[.;:!?)\]|]|,?[ \t]+(?:\p{{Ll}}|\p{{N}}|{STOP}|\(|(?:My|The|I|We|He|She|It|They|You|Our|This|"
    r"That|Then|But|And|So|If|When|Please)\b)|,[ \t]*$)"
)
_TAIL_RX = regex.compile(
    rf"(?:(?:[ \t]*[,;،][ \t]*|[ \t]*[-–—/][ \t]*|(?<!\.)[ \t]+){_TAIL_ITEM}){{1,5}}(?={_TAIL_END})"
)
_TAIL_COMMA_RX = regex.compile(rf"(?:[ \t]*[,;،][ \t]*{_TAIL_ITEM}){{1,5}}(?={_TAIL_END})")
_ZIP_RX = regex.compile(r"\d{5}(?:-\d{4})?|[A-Z]\d[A-Z][ ]?\d[A-Z]\d")  # (or a Canadian code)
_CODE_AT_END_RX = regex.compile(rf"{POSTAL}[ \t]*$")
_TOWN_LINE_RX = regex.compile(rf"\n[ \t]*{PLACE}[ \t.]*(?=\n|$)")
_COUNTRY_LINE_RX = regex.compile(rf"\n[ \t]*(?:{POSTAL}[ \t]+)?{COUNTRY}[ \t.]*(?=\n|$)")
_CODE_TOWN_BEFORE_RX = regex.compile(r"(?:^|[,;،:：][ \t]*|[ \t][-–—][ \t]*|\n[ \t]*)$")
_CODE_TOWN_AFTER_RX = regex.compile(
    rf"[ \t]+{PLACE}(?:{SEP}(?:{PLACE}|{REGION}|{COUNTRY}|{PROVINCE}))*(?:{LINE_END}|[ \t]*[,;)]|\.(?:[ \t]|$))"
)
# A postcode line right under a street line that ends with its house number, its town
# followed by the rest of a sentence: "Meet me at Rösslerstraße 1\n8218 Feldbach tomorrow."
_HOUSE_LINE_END_RX = regex.compile(
    r"\p{Lu}\p{L}+[.,]?(?:[ \t]+"
    rf"(?i:{_alt(_words(*SUFFIX_TYPES.values(), NORDIC_GENITIVE_TYPES, FINNISH_GENITIVE_TYPES, ADJECTIVE_STREET_TYPES))}))?[ \t]+"
    r"\d{1,5}\p{L}?(?:[/-]\d{1,4}\p{L}?)?\.?[ \t]*,?[ \t]*\n[ \t]*$"
)
_CODE_TOWN_SENTENCE_RX = regex.compile(rf"[ \t]+{PLACE}(?=[ \t]+\p{{Ll}})")
_TOWN_CODE_BEFORE_RX = regex.compile(
    # a region and its code apart ("NM 87501", "PE, 54000"): "PW-7120" is a model number
    rf"(?r)(?:(?P<place>{PLACE})(?:[ \t]*,)?[ \t]+(?P<region>{REGION})(?:[ \t]*,?[ \t]*)"
    rf"|(?P<town>{PLACE})(?:[ \t]*[,;\-–—]?[ \t]*))$"
)
_TOWN_CODE_AFTER_RX = regex.compile(rf"(?:{LINE_END}|[ \t]*[,;)]|[ \t]*\.(?:[ \t]|$)|[ \t]*,?[ \t]+{COUNTRY})")
# a town that starts an address part: after a line break, a comma or a dash
_TOWN_START_RX = regex.compile(r"(?:^|[,;،][ \t]*|[ \t][-–—][ \t]*|\n[ \t]*)$")
_FIELD_WORD_RX = regex.compile(rf"(?i:{_alt_bar(FIELD_LABELS)}){RB}")
# labels of a town field: a code after them stands before its town ("Wohnort: 1010 Wien")
TOWN_LABELS = "city|town|ville|ort|wohnort|ciudad|cidade|città|localidade|localidad|toimipaikka|postort|by|miasto|város"
_LINE_TOWN_CODE_RX = regex.compile(rf"[ \t]*{PLACE}[ \t]*,?[ \t]*[-–]?[ \t]*\d{{5,7}}[ \t.]*")
_ANY_LABEL_RX = regex.compile(
    rf"(?i:{_alt_bar(POSTAL_LABELS)}|{_alt_bar(TOWN_LABELS)}|{_alt(_words(*ADDRESS_LABELS.values()))})"
)
# (matched from the line's start to the code: a search of the whole line for it, once per
# code, was quadratic on a long line of codes)
_ALONE_BEFORE_RX = regex.compile(r"[ \t]*(?:CP|C\.P\.|CEP|PLZ)?[ \t]*")
_LABEL_CUT_RX = regex.compile(
    rf"[ \t]{{2,}}[\p{{L}}][\p{{L}} .]{{0,24}}:|[ \t]*\|[ \t]|\t|(?<=\d)\.[ \t]+(?=\p{{Lu}})|[ \t,;]+(?={PHONE_LABEL})"
)
_LABEL_LINE_RX = regex.compile(r"[ \t]*[\p{L}][\p{L} .'/]{0,25}[:：](?![0-9])")
_PLACES_ONLY_RX = regex.compile(rf"{PLACE}(?:{SEP}(?:{PLACE}|{REGION}|{COUNTRY})){{1,5}}[ \t.]*")
_STOP_LINE_RX = regex.compile(rf"[ \t]*{STOP}")
_SENTENCE_RX = regex.compile(r"(?:\p{Ll}+[ \t]+){4}")
_TEMPORAL_BEFORE_RX = regex.compile(
    rf"(?r)(?i:\b(?:in|since|by|from|until|till|during|before|after|around|circa|year|summer|spring|autumn|fall|"
    rf"winter|early|late|mid|of|'s|{MONTHS})\s+)$"
)
_PARTS_SCORE = {"street": 0.85, "box": 0.85, "mil": 0.85, "chat": 0.7}
_HOME_UNIT_RX = regex.compile(rf"(?i:{'|'.join(sorted(HOME_UNITS, key=len, reverse=True))})\b")
_STRONG_UNIT_RX = regex.compile(rf"(?i:{'|'.join(sorted(STRONG_UNITS, key=len, reverse=True))})\b")
_SHORT_UNIT_RX = regex.compile(r"\p{L}\b")
_UNTYPED = frozenset({"name_number", "number_name", "lower_name_number"})
_FLOOR_RULES = {
    "floor",
    "hebrew_unit",
    "turkish_unit",
    "ordinal_floor_letter",
    "hash_unit",
    "floor_slash",
    "korean_unit",
    "cjk_unit",
}


class _Token(NamedTuple):
    """A word, number or code of the text, with the roles its lower-case form has in the
    word tables."""

    start: int
    end: int
    text: str
    roles: frozenset[str]


def _role_table() -> dict[str, frozenset[str]]:
    """Lower-case word (and its first word, for words of several) -> its roles."""
    roles: dict[str, set[str]] = {}

    def add(words: list[str], role: str) -> None:
        for w in words:
            first = w.split()[0].lower()
            for key in (first, first.rstrip(".")):
                roles.setdefault(key, set()).add(role)

    add(_words(*PREFIX_TYPES.values()), "prefix")
    add(_words(*SUFFIX_TYPES.values(), AMBIGUOUS_SUFFIXES, NORDIC_GENITIVE_TYPES, FINNISH_GENITIVE_TYPES), "suffix")
    add(CHAT_SUFFIXES.split("|"), "suffix")
    add("am an auf im in zum zur unter hinter".split(), "german")
    add(
        _words(*ADDRESS_LABELS.values()) + ["perm.", "present", "home", "ship", "deliver", "send", "mail", "bill"],
        "label",
    )
    add(
        [p.split()[0] for p in f"{ADDRESS_PHRASES}|{SEND_PHRASES}".split("|")] + ["domiciliado", "domiciliada"],
        "phrase",
    )
    add(_words(STRONG_BOXES) + "psc cmr unit apo fpo dpo uss usns uscgc".split(), "box")
    # the parts: each role names the shape tried at the word (or at the word before it)
    add(_words(*HOUSE_WORDS.values()), "house")
    add(_words(NUMBER_WORDS), "house_number")
    add(_words(*UNIT_WORDS.values()), "unit")
    add(_words(FLOOR_WORDS) + ["r/c", "bajo", "eg", "og", "fsz"], "floor")
    add(_words(WEAK_BOXES) + ["box", "bag"], "weak_box")
    add(
        "phường quận huyện sector zona zone district colonia col. barrio bo. barangay brgy. purok sitio phase "
        "ward sektor kecamatan kec. kelurahan kel. rt rw sec. г. гор. гр. м. пос. ք.".split(),
        "district",
    )
    add("road street avenue lane block sector gali soi moo".split(), "road_number")
    add("cross main block stage phase sector".split(), "indian_cross")
    add("d k daire kat blok".split(), "turkish_unit")
    add("כניסה קומה דירה".split(), "hebrew_unit")
    return {k: frozenset(v) for k, v in roles.items()}


_ROLES = _role_table()
_COMPOUND_TAILS = frozenset(w.lower().rstrip(".") for w in _words(*COMPOUND_SUFFIXES.values()))
_COMPOUND_LENGTHS = sorted({len(w) for w in _COMPOUND_TAILS})
_COMPOUND_LAST3 = frozenset(w[-3:] for w in _COMPOUND_TAILS)
_ADJECTIVE_RX = regex.compile(ADJECTIVE_STREET)
_ADJECTIVE_LAST = frozenset("áíaeυύςνаяիÁÍAEΥΎΣΝАЯ")  # the last letters of the endings above


def _plain(word: str) -> str:
    """Lower case without accents: "ΜΑΪΟΥ" and "Μαΐου" are the same word."""
    return "".join(c for c in unicodedata.normalize("NFD", word.lower()) if not unicodedata.combining(c))


_NOT_ADJECTIVE = frozenset(_plain(w) for w in NOT_ADJECTIVE_STREET.split())
_CZECH_PREPOSITIONS = frozenset(CZECH_PREPOSITIONS.split())
_AMBIGUOUS_LOWER = frozenset(w.lower().rstrip(".") for w in _words(AMBIGUOUS_SUFFIXES)) - frozenset(
    w.rstrip(".") for w in _words(*SUFFIX_TYPES.values(), NORDIC_GENITIVE_TYPES)
)
_TOKEN_RX = regex.compile(r"[\p{L}\p{M}\p{N}#№〒][\p{L}\p{M}\p{N}'’./-]*")
_SCRIPT_RX = regex.compile(r"[\p{Han}\p{Hangul}\p{Katakana}\p{Hiragana}\p{Thai}]")
_NUMBERISH_RX = regex.compile(rf"\d|#|№|{NUMBER_MARK_WORDS}$|[A-Z]{{1,2}}-\d")
_NO_ROLES: frozenset[str] = frozenset()


def _lower_case(word: str) -> bool:
    """Whether a word starts in lower case; Georgian Mkhedruli, lower case in Unicode, is
    written without case and counts as capitalised."""
    return word[0].islower() and not "\u10d0" <= word[0] <= "\u10ff"


def _tokens(text: str) -> list[_Token]:
    out = []
    for m in _TOKEN_RX.finditer(text):
        word = m.group()
        low = word.lower()
        stem = low.rstrip(".")
        roles = _ROLES.get(low) or _ROLES.get(stem) or _NO_ROLES
        if roles:
            if "german" in roles and not word[0].isupper():
                roles = roles - {"german"}  # "in", "an" in English
            if "suffix" in roles and stem in _AMBIGUOUS_LOWER and word.islower():
                roles = roles - {"suffix"}  # "park", "view": Title case only
            if word == "WEG" and not (out and out[-1].text.isupper()):
                roles = roles - {"suffix"}  # German for a flat owners' association, not "Weg"
        if len(stem) > 4 and stem[-3:] in _COMPOUND_LAST3:
            for n in _COMPOUND_LENGTHS:
                if len(stem) - n >= 2 and stem[-n:] in _COMPOUND_TAILS:
                    roles = roles | {"compound"}
                    break
        if word in _CZECH_PREPOSITIONS:
            roles = roles | {"czech"}
        elif word[-1] in _ADJECTIVE_LAST and _ADJECTIVE_RX.fullmatch(word) and _plain(word) not in _NOT_ADJECTIVE:
            roles = roles | {"adjective"}
        if stem.endswith(("-ro", "-gil", "-daero")):
            roles = roles | {"korean"}
        out.append(_Token(m.start(), m.end(), word, roles))
    return out


def _rx(shapes: dict[str, str], names: str) -> list[tuple[str, regex.Pattern]]:
    return [(n, regex.compile(shapes[n])) for n in names.split()]


# the shapes to try at the words before and at an anchor word, by the anchor's role
_ANCHORED = {
    "prefix": _rx(
        {**STREET_SHAPES, **CHAT_SHAPES}, "number_prefix_type type_name_number chat_type_name_number intersection"
    ),
    "suffix": _rx(
        {**STREET_SHAPES, **CHAT_SHAPES},
        "number_name_type name_type_number genitive_type_number chat_number_name_type chat_name_type_number "
        "chat_plot_name_type",
    ),
    "compound": _rx(STREET_SHAPES, "number_compound compound_number"),
    "german": _rx(STREET_SHAPES, "german_prefix"),
    "adjective": _rx(STREET_SHAPES, "adjective_number"),
    "czech": _rx(STREET_SHAPES, "czech_preposition"),
    "korean": [("korean", regex.compile(KOREAN))],
}
_WEAK_ANCHORED = {
    "prefix": _rx(WEAK_SHAPES, "type_name"),
    "suffix": _rx(WEAK_SHAPES, "name_type"),
    "compound": _rx(WEAK_SHAPES, "compound"),
}
_BOX_SHAPES = [("box", regex.compile(BOX)), ("military", regex.compile(MILITARY)), ("ship", regex.compile(SHIP))]
# part shape -> compiled regex; floors and "14th Cross" start at the number before the word
_PART_ANCHORED = dict(
    _rx(
        PART_SHAPES, "house house_number unit district road_number indian_cross turkish_unit hebrew_unit weak_box floor"
    )
)
_PART_FROM_BEFORE = frozenset({"floor", "indian_cross"})
# cheap shapes that start with a digit or a sign, run over the whole text
_PART_SCAN = [
    *_rx(
        PART_SHAPES,
        "ordinal_floor_letter hash_unit floor_slash lead_number hash floor_door_after_dot catalan_floor_door "
        "unit_after_number",
    ),
    ("japanese", regex.compile(rf"{LB}\d{{1,2}}-\d{{1,2}}-\d{{1,3}}[ \t]+{CAP}")),  # "3-21-4 Nishi-Azabu"
]
_SCRIPT_SHAPES = [
    ("japanese", regex.compile(JAPANESE)),
    ("chinese", regex.compile(CHINESE)),
    ("thai", regex.compile(THAI)),
    ("korean", regex.compile(KOREAN)),
    ("korean_unit", regex.compile(PART_SHAPES["korean_unit"])),
    ("cjk_unit", regex.compile(PART_SHAPES["cjk_unit"])),
]
_UNTYPED_SHAPES = _rx(WEAK_SHAPES, "name_number number_name lower_name_number")
_NUMBER_FIRST = frozenset({"number_prefix_type", "number_name_type", "number_compound", "chat_number_name_type"})


def _kind(rule: str, value: str) -> str | None:
    """The kind of atom a shape makes; None for a unit named by one letter without a
    number ("D.E" is no door)."""
    if rule.startswith("chat_"):
        return "chat"
    if rule in STREET_SHAPES:
        return "street"
    if rule in ("house", "house_number"):
        return "home" if rule == "house" and _HOME_UNIT_RX.match(value) else "house"  # "casa 9"
    if rule == "unit":
        if _SHORT_UNIT_RX.match(value) and not _DIGIT_RX.search(value):
            return None
        if _HOME_UNIT_RX.match(value):
            return "home"
        return "sunit" if _STRONG_UNIT_RX.match(value) else "unit"
    if rule in _FLOOR_RULES:
        return "sunit"
    return {"box": "box", "military": "mil", "weak_box": "wbox", "ship": "ship"}.get(rule, "part")


def _atoms(text: str, tokens: list[_Token]) -> list[Atom]:
    """Streets, boxes, houses and units. Each shape is tried only where it can start: at
    an anchor word (a street type, a compound street name, a unit or box word) or at one
    of the few words before it on its line."""
    found: dict[tuple[int, int], Atom] = {}

    def add(rule: str, m: regex.Match) -> None:
        kind = _kind(rule, m.group())
        if kind and not (rule in _NUMBER_FIRST and _temporal_number(text, m.start())):
            found.setdefault(m.span(), Atom(m.start(), m.end(), kind, rule))

    for i, tok in enumerate(tokens):
        if not tok.roles:
            continue
        ls = _line_start(text, tok.start)
        before = [t for t in tokens[max(0, i - 7) : i] if t.start >= ls]
        for role in ("prefix", "suffix", "compound", "german", "adjective", "czech", "korean"):
            if role not in tok.roles:
                continue
            matched = False
            for t in [*before, tok]:
                numberish = bool(_NUMBERISH_RX.match(t.text))
                lower = _lower_case(t.text)
                for rule, rx in _ANCHORED[role]:
                    if role != "korean" and (
                        (rule in _NUMBER_FIRST) != numberish
                        or not numberish
                        and lower != rule.startswith("chat_")
                        and t is not tok
                    ):
                        continue
                    m = rx.match(text, t.start)
                    if m and m.end() > tok.start:
                        add(rule, m)
                        matched = True
                if matched:
                    break
            if not matched and role in _WEAK_ANCHORED:
                for t in [*before[-5:], tok]:
                    for rule, rx in _WEAK_ANCHORED[role]:
                        m = rx.match(text, t.start)
                        if m and m.end() > tok.start:
                            found.setdefault(m.span(), Atom(m.start(), m.end(), "weak", rule))
                            matched = True
                    if matched:
                        break
        if "box" in tok.roles:
            for rule, rx in _BOX_SHAPES:
                m = rx.match(text, tok.start)
                if m:
                    add(rule, m)
        # in the table's order, not a set's: a word with two roles ("casa": house and unit) must
        # give the same atom in every process (a set's order changes with the hash seed)
        for rule, rx in _PART_ANCHORED.items():
            if rule not in tok.roles:
                continue
            for t in [*before[-1:], tok] if rule in _PART_FROM_BEFORE else [tok]:
                m = rx.match(text, t.start)
                if m and m.end() > tok.start:
                    add(rule, m)
    for rule, rx in _PART_SCAN:
        for m in rx.finditer(text):
            add(rule, m)
    if _SCRIPT_RX.search(text):
        for rule, rx in _SCRIPT_SHAPES:
            for m in rx.finditer(text):
                add(rule, m)
    return list(found.values())


def _untyped_atoms(text: str, tokens: list[_Token]) -> list[Atom]:
    """A name and a number without a street-type word ("Περικλή 37", "123 Nguyễn Trãi"):
    tried at the words next to each number."""
    found: dict[tuple[int, int], Atom] = {}
    for i, tok in enumerate(tokens):
        if not tok.text[0].isdigit():
            continue
        ls = _line_start(text, tok.start)
        for t in [*[t for t in tokens[max(0, i - 3) : i] if t.start >= ls], tok]:
            if t is tok:
                shapes = _UNTYPED_SHAPES[1:2]  # number_name
            elif _lower_case(t.text):
                shapes = _UNTYPED_SHAPES[2:]  # lower_name_number
            else:
                shapes = _UNTYPED_SHAPES[:1]  # name_number
            for rule, rx in shapes:
                m = rx.match(text, t.start)
                if m and m.end() > tok.start and m.start() <= tok.start:
                    found.setdefault(m.span(), Atom(m.start(), m.end(), "weak", rule))
    return list(found.values())


def _temporal_number(text: str, start: int) -> bool:
    """A year after "in", "since", ...: "In 2019 Central Park ..." is no address."""
    m = regex.match(r"\d{4}(?!\d)", text[start : start + 5])
    return bool(m and _year_like(m.group()) and _TEMPORAL_BEFORE_RX.search(text[max(0, start - 12) : start]))


def _postal_shape(text: str, start: int, end: int) -> str | None:
    """How a postal-code candidate stands on its line: after a postal label, before a
    town ("00170 Helsinki"), after a region ("OH 45402"), after a town that starts an
    address part ("..., Helsinki 00170"), alone at the end of a line; None when it
    stands in running text."""
    ls = _line_start(text, start)
    before = text[max(ls, start - 40) : start]
    if _POSTAL_LABEL_RX.search(before) or _POSTAL_LABEL_AFTER_RX.match(text, end):
        return "label"
    after = text[end : end + 80]
    lead = _CODE_TOWN_BEFORE_RX.search(text[max(ls, start - 4) : start])
    if lead and _CODE_TOWN_AFTER_RX.match(after):
        # after a colon only in an address or postcode field ("CP / Ville : 31000 Toulouse")
        if ":" not in lead.group() and "：" not in lead.group() or _ANY_LABEL_RX.search(text, ls, start):
            return "code_town"
    if (
        ls > 0
        and not text[ls:start].strip()
        and _CODE_TOWN_SENTENCE_RX.match(after)
        and _HOUSE_LINE_END_RX.search(text, max(0, start - 40), start)
    ):
        return "code_town"
    if _TOWN_CODE_AFTER_RX.match(after):
        m = _TOWN_CODE_BEFORE_RX.search(before)
        if m and m.group("region"):
            return "region_code"
        if m and _FIELD_WORD_RX.match(m.group("town") or ""):
            return None  # "Batch 2304-118", "Order 12345"
        if m and _TOWN_START_RX.search(
            text[max(ls, m.start() + (start - len(before)) - 4) : m.start() + start - len(before)]
        ):
            return "town_code"
        if _ALONE_BEFORE_RX.fullmatch(text, ls, start) or before.rstrip().endswith(","):
            return "alone"
    elif _ZIP_RX.fullmatch(text, start, end):
        # a town, a US state and a ZIP code are an address whatever follows ("Lake Sarah,
        # NH 03301 is where I grew up"), and so a Canadian town, province and code
        m = _TOWN_CODE_BEFORE_RX.search(before)
        if m and m.group("region") and not _FIELD_WORD_RX.match(m.group("place")):
            return "region_code"
    return None


def _postal_atoms(text: str) -> list[tuple[Atom, str]]:
    """Postal-code candidates with their shape, when they stand like postal codes."""
    out = []
    for m in _POSTAL_RX.finditer(text):
        fmt = m.lastgroup or "digits"
        start, end = m.span()
        shape = _postal_shape(text, start, end)
        if shape is None and fmt not in ("uk", "ca", "ie", "jp"):
            continue
        # "Helsinki 00170" joins an address; only "00170 Helsinki", a label, a region
        # or a formatted code is evidence for one ("Blatt 1229" is not)
        weak = fmt == "digits" and (shape in ("town_code", "alone") or end - start < 4)
        if fmt == "digits" and end - start < 4 and shape not in ("label", "code_town"):
            continue  # "Room 804"
        out.append((Atom(start, end, "postal_weak" if weak else "postal", fmt), shape or "free"))
    return out


def _joinable(gap: str) -> bool:
    """Only separators, short place names or lines of them lie between two parts."""
    if len(gap) > 160 or gap.count("\n") > 5 or regex.search(r"\n[ \t]*\n", gap):
        return False
    return all(_FILLER_RX.fullmatch(seg) for seg in _GAP_SPLIT_RX.split(gap))


def _runs(text: str, atoms: list[Atom]) -> list[list[Atom]]:
    runs: list[list[Atom]] = []
    end = -1
    for a in sorted(atoms, key=lambda a: (a.start, -a.end)):
        if runs and (a.start < end or _joinable(text[end : a.start])):
            runs[-1].append(a)
            end = max(end, a.end)
        else:
            runs.append([a])
            end = a.end
    return runs


def _run_score(run: list[Atom]) -> float:
    """0 when the run is not an address on its own."""
    kinds = [a.kind for a in run]
    strong = [_PARTS_SCORE[k] for k in kinds if k in _PARTS_SCORE]
    if strong:
        return max(strong)
    parts = sum(k in ("unit", "sunit", "home", "part", "house", "wbox", "postal") for k in kinds)
    if "house" in kinds and len(run) >= 2:
        return 0.7
    if "weak" in kinds and parts:
        return 0.7
    if ("sunit" in kinds or "home" in kinds) and sum(
        k in ("unit", "sunit", "home", "house", "part") for k in kinds
    ) >= 2:
        return 0.6
    if kinds == ["home"]:
        return 0.5
    return 0.0


def _line_spans(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """[start, end) cut at line breaks, each piece trimmed of spaces and separators."""
    out = []
    pos = start
    while pos < end:
        stop = text.find("\n", pos, end)
        stop = end if stop < 0 else stop
        s, e = pos, stop
        while s < e and text[s] in " \t,;،|-–—":
            s += 1
        while e > s and text[e - 1] in " \t,;،|-–—":
            e -= 1
        if e > s:
            out.append((s, e))
        pos = stop + 1
    return out


# Latin American addresses name the cross streets: "Calle 47 N° 812, entre 11 y 13",
# "Av. Corrientes 1200 esq. Talcahuano", "Calle 60 No. 491 por 57 y 59" (Yucatán)
_CROSS_STREETS_RX = regex.compile(
    r"(?:,[ \t]*|[ \t]+)(?i:entre(?:[ \t]+(?:las[ \t]+)?calles)?(?![ \t]+las?[ \t]+\d)|esq(?:\.|uina)(?:[ \t]+con)?"
    r"|por(?=[ \t]+\d{1,3}[A-Za-z]?[ \t]+y[ \t]+\d))[ \t]+"
    # (not the hours: "entre las 9 y 18 hs")
    r"(?![^\n,;()]{0,40}?\d[ \t]*(?i:hs|h|horas|hrs|am|pm)\b)[^\n,;()]{1,40}?(?=[ \t]*(?:$|[\n,;()]|\.(?:[ \t]|$)))",
    regex.M,
)


def _code_at_end(text: str, end: int) -> bool:
    """A postcode ends the line's text before `end`: looked for in the last few characters
    only (a postcode is short; searching from the line's start made a long line of
    addresses quadratic)."""
    ls = _line_start(text, end)
    k = end
    while k > ls and text[k - 1] in " \t":
        k -= 1
    return bool(_CODE_AT_END_RX.search(text, max(ls, k - 16), end))


def _extend_tail(text: str, end: int) -> int:
    """Cross streets, town, region, postcode and country after an address on its line, and a
    country line under it."""
    m = _CROSS_STREETS_RX.match(text, end)
    if m:
        end = m.end()
    rx = _TAIL_COMMA_RX if text[end - 1 : end] == "." else _TAIL_RX
    m = rx.match(text, end)
    if m:
        end = m.end()
    if _code_at_end(text, end):
        # "9337 QB\nVelserbroek": the town under its code, when no English words ("John Smith")
        m = _TOWN_LINE_RX.match(text, end)
        if m and _foreign_word(m.group()):
            end = m.end()
    m = _COUNTRY_LINE_RX.match(text, end)
    return m.end() if m else end


def find_addresses(text: str, places: tuple[tuple[int, int], ...] = ()) -> list[Found]:
    """Every street address and postal code in `text`; `places` are the character spans
    of the towns and regions an NLP model found (optional evidence for postal codes)."""
    return list(_find_cached(text, places))


@functools.lru_cache(maxsize=16)
def _find_cached(text: str, places: tuple[tuple[int, int], ...]) -> tuple[Found, ...]:
    # both recognizers call this for the same text, one after the other
    tokens = _tokens(text)
    roles = frozenset().union(*(t.roles for t in tokens)) if tokens else _NO_ROLES
    has_digit = _DIGIT_RX.search(text) is not None
    atoms = _atoms(text, tokens)
    postal = _postal_atoms(text) if has_digit else []
    labels = list(_LABEL_RX.finditer(text)) if "label" in roles else []
    if has_digit and (atoms or labels or any(shape != "free" for _, shape in postal)):
        atoms += _untyped_atoms(text, tokens)
    joined, postal = _settle(text, atoms, postal)
    out, covered = _address_runs(text, joined)
    out += _label_values(text, labels, joined)
    if "phrase" in roles:
        out += _phrase_values(text, covered)
    done = {(f.start, f.end) for f in out if f.entity == "POSTAL_CODE"}
    for a, shape in postal:
        score = 0.0 if (a.start, a.end) in done else _postal_score(text, a, shape, places)
        if score:
            out.append(Found(a.start, a.end, "POSTAL_CODE", score, f"postal_{shape}_{a.rule}"))
    return tuple(dict.fromkeys(out))


def _settle(text: str, atoms: list[Atom], postal: list[tuple[Atom, str]]) -> tuple[list[Atom], list[tuple[Atom, str]]]:
    """Resolve overlaps between atoms and postal-code candidates; return the atoms that
    may join into addresses, and the candidates left."""
    strong = [b for b in atoms if b.kind != "weak"]
    # a candidate inside a street or unit ("PSC 1234", "Calle Mayor 12345") is a number of it
    postal = [(a, shape) for a, shape in postal if not any(b.start < a.end and a.start < b.end for b in strong)]
    # a weak atom that overlaps a strong one only blurs its edges ("Ana Lind, 12 Elm St"),
    # and a postal code with its town is no street ("31000 Toulouse", "Tokyo 150-0041")
    coded = strong + [a for a, shape in postal if shape != "free" and a.kind == "postal"]
    weak = [w for w in atoms if w.kind == "weak" and not any(b.start < w.end and w.start < b.end for b in coded)]
    # a year joins no address ("May 17, 1952"), except as a labelled or regional code, or
    # before its town right after a street ("Storgata 5, 2000 Lillestrøm")
    street_ends = {b.end for b in strong}
    codes = [
        a
        for a, shape in postal
        if shape != "free"
        and (
            shape in ("label", "region_code")
            or not _year_like(text[a.start : a.end])
            or shape == "code_town"
            and _part_end_before(text, a.start) in street_ends
        )
    ]
    return strong + weak + codes, postal


# a named building, estate or residence that opens an address line: "Résidence Les Érables,
# bât. F, apt 3", "Edificio Miramar, piso 3", "Condomínio Jardim Azul, bloco 2"; the word alone
# right before the run only when it is no abbreviation ("kg. Rohrlängen 40": kilograms, not kampung)
_BUILDING_BEFORE_RX = regex.compile(rf"{LB}(?:{BUILDING}[ \t]+{NAME_T}[ \t]*[,;]|{BUILDING}(?<!\.))[ \t]*$")


def _building_before(text: str, start: int) -> int:
    """Where an address run starts once a named building before it on its line is included."""
    m = _BUILDING_BEFORE_RX.search(text, max(_line_start(text, start), start - 80), start)
    return m.start() if m else start


def _part_end_before(text: str, start: int) -> int:
    """Where the address part before `start` ends: back over spaces and one comma or line break."""
    i = start
    while i and text[i - 1] in " \t":
        i -= 1
    if i and text[i - 1] in ",\n":
        i -= 1
    while i and text[i - 1] in " \t":
        i -= 1
    return i


def _address_runs(text: str, joined: list[Atom]) -> tuple[list[Found], list[tuple[int, int]]]:
    """One STREET_ADDRESS span per line of each run that is an address, with its tail, and
    the run's postal codes; and the spans covered."""
    out: list[Found] = []
    covered: list[tuple[int, int]] = []
    for run in _runs(text, joined):
        while (
            len(run) > 1
            and run[-1].kind == "weak"
            and run[-1].rule in _UNTYPED
            and "\n" in text[run[-2].end : run[-1].start]
        ):
            run.pop()  # "Digicode 4B", "TEL 022-318-5520" on the line after an address
        score = _run_score(run) or _located_street(text, run)
        if not score:
            continue
        start, run_end = min(a.start for a in run), max(a.end for a in run)
        start = _building_before(text, start)
        end = _extend_tail(text, run_end)
        rule = max(run, key=lambda a: (_PARTS_SCORE.get(a.kind, 0.0), a.end - a.start)).rule
        for s, e in _line_spans(text, start, end):
            covered.append((s, e))
            # "APO AE 09876" and "Código postal 2430000": only the code is identifying
            m = _MILITARY_POST_RX.fullmatch(text, s, e) or _LABELLED_CODE_LINE_RX.fullmatch(text, s, e)
            if m:
                out.append(Found(m.start("code"), m.end("code"), "POSTAL_CODE", 0.85, "postal_in_address"))
                if m.groupdict().get("town"):
                    out.append(Found(m.start("town"), m.end("town"), "STREET_ADDRESS", score, rule))
                continue
            out.append(Found(s, e, "STREET_ADDRESS", score, rule))
        out += [
            Found(s, e, "POSTAL_CODE", 0.85, "postal_in_address") for s, e in _run_codes(text, run, start, run_end, end)
        ]
    return out, covered


# A street named without its number after "in", "on", "at" and an article, in the languages
# that glue the street type to the name ("aan de Veldhoekstraat", "in der Lindenstraße", "am
# Birkenweg", "på Storgatan"): Dutch, German and Scandinavian compounds only, in Title case
# (Dutch and the Nordic languages write common nouns in lower case; German nouns that end
# like a street are listed in NOT_LOCATED).
_LOCATED_BEFORE_RX = regex.compile(
    r"(?<![\p{L}])(?:(?i:aan|in|op|bij|naar|langs|via|vanaf)[ \t]+(?:de|het)"
    r"|(?i:in|an|auf|aus|von|nach|zur|zum|bis[ \t]+zur|bis[ \t]+zum)[ \t]+(?:der|die|den|dem)"
    r"|(?i:am|im|vom|zum|zur|ecke)|(?i:på|i|ved|vid|från|fra|til|till))[ \t]+$"
)
_LOCATED_TAILS = regex.compile(
    r"(?:straat|laan|gracht|steenweg|singel|dreef|straße|strasse|gasse|allee|weg|gatan|vägen|gata|gaten|veien|"
    r"vegen|gade|gaden|vej|vejen|stræde)$"
)
NOT_LOCATED = frozenset(
    """heimweg rückweg umweg ausweg fußweg fussweg radweg gehweg feldweg waldweg schulweg arbeitsweg wanderweg
    seeweg landweg luftweg rechtsweg dienstweg lebensweg mittelweg holzweg irrweg nachhauseweg heimatweg
    landstraße landstrasse bundesstraße bundesstrasse einbahnstraße einbahnstrasse seitenstraße seitenstrasse
    nebenstraße nebenstrasse querstraße querstrasse autostraße fernstraße hauptverkehrsstraße sackgasse
    zijstraat winkelstraat snelweg spoorweg fietsweg zandweg dijkweg hoofdweg sidogata sidogatan""".split()
)


def _located_street(text: str, run: list[Atom]) -> float:
    """A lone glued street name ("Veldhoekstraat") after a locative preposition: 0.6, else 0."""
    if len(run) != 1 or run[0].kind != "weak" or run[0].rule != "compound":
        return 0.0
    a = run[0]
    word = text[a.start : a.end]
    if not word[:1].isupper() or word.lower() in NOT_LOCATED or not _LOCATED_TAILS.search(word.lower()):
        return 0.0
    return 0.6 if _LOCATED_BEFORE_RX.search(text, max(0, a.start - 20), a.start) else 0.0


_MILITARY_POST_RX = regex.compile(r"(?:APO|FPO|DPO)[ \t]+(?:AA|AE|AP)[ \t]+(?P<code>\d{5}(?:-\d{4})?)")
_LABELLED_CODE_LINE_RX = regex.compile(
    rf"(?i:{_alt_bar(POSTAL_LABELS)})[ \t]*[:#.]?[ \t]*(?P<code>{POSTAL})(?:[ \t]+(?P<town>{PLACE}))?[ \t.]*"
)


def _run_codes(text: str, run: list[Atom], start: int, run_end: int, end: int) -> list[tuple[int, int]]:
    """The postal codes of a run: its postal atoms, the number that ends a town
    ("Jakarta 12190") and the codes in its tail ("..., Springfield, IL 62704"); not a
    house or unit number, a year, or a three-digit number after other words."""
    parts = [(a.start, a.end) for a in run if a.kind != "weak" and not a.kind.startswith("postal")]
    codes = {(a.start, a.end) for a in run if a.kind.startswith("postal")}
    town_ends = {a.end for a in run if a.kind == "weak" and a.rule == "name_number"}
    out = []
    for m in _POSTAL_RX.finditer(text, start, end):
        (s, e), value = m.span(), m.group()
        if _year_like(value) or any(ps < e and s < pe for ps, pe in parts):
            continue
        short = m.lastgroup == "digits" and len(value) < 4
        after_words = bool(text[_line_start(text, s) : s].strip())
        if s >= run_end or (s, e) in codes and not (short and after_words) or e in town_ends and not short:
            out.append((s, e))
    return out


def _label_values(text: str, labels: list[regex.Match], atoms: list[Atom]) -> list[Found]:
    """The value of an "Address:" field: the rest of its line, or the lines under a label
    that ends its line, where they look like an address (a digit or an address part)."""
    out: list[Found] = []

    def addressy(s: int, e: int) -> bool:
        return any(a.start < e and s < a.end for a in atoms)

    for m in labels:
        ls = _line_start(text, m.start())
        if _SENTENCE_RX.search(text, ls, m.start()):
            continue  # "... and the address: ..." inside a sentence
        start, line_end = m.end(), _line_end(text, m.end())
        cut = _LABEL_CUT_RX.search(text, start, line_end)
        end = cut.start() if cut else line_end
        spans = _line_spans(text, start, end)
        if spans:
            s, e = spans[0]
            if addressy(s, e):
                out.append(Found(s, e, "STREET_ADDRESS", 0.85, "address_field"))
            elif _PLACES_ONLY_RX.fullmatch(text, s, e):
                out.append(Found(s, e, "STREET_ADDRESS", 0.7, "address_field_places"))
            continue
        # the label ends its line: the address is on the lines under it
        found: list[tuple[int, int]] = []
        pending: list[tuple[int, int]] = []
        pos = line_end + 1
        for _ in range(8):
            if pos > len(text):
                break
            le = _line_end(text, pos)
            line = text[pos:le]
            if not line.strip() or _LABEL_LINE_RX.match(line) or _SENTENCE_RX.search(line) or _STOP_LINE_RX.match(line):
                break
            span = _line_spans(text, pos, le)
            if span:
                if addressy(*span[0]):
                    if found:
                        found += pending
                    found.append(span[0])
                    pending = []
                else:
                    pending.append(span[0])
            pos = le + 1
        out += [Found(s, e, "STREET_ADDRESS", 0.85, "address_block") for s, e in found]
    return out


def _phrase_values(text: str, covered: list[tuple[int, int]]) -> list[Found]:
    """ "lives at 221B Baker" : a number and capitalised words after an address phrase."""
    out = []
    for m in _PHRASE_RX.finditer(text):
        v = _PHRASE_VALUE_RX.match(text, m.end())
        if not v or any(s <= v.start() < e for s, e in covered):
            continue
        # a name then a number, or anything after a sending phrase, only with a word that is
        # no English word ("Room 12", "Ward 5", "3 Specialists" are not addresses)
        if (v.group("named") or m.group("send")) and not _foreign_word(v.group("named") or v.group("words")):
            continue
        out.append(Found(v.start(), _extend_tail(text, v.end()), "STREET_ADDRESS", 0.6, "address_phrase"))
    return out


def _foreign_word(words: str) -> bool:
    """Whether any word is not in the English dictionary (nor a plural of one of its words)."""
    from guard.deid.names import english_dictionary

    english = english_dictionary()
    for w in regex.findall(r"[\p{L}\p{M}]+", words.lower()):
        stems = {w, w[:-1] if w.endswith("s") else w, w[:-2] if w.endswith("es") else w}
        if w.endswith("ies"):
            stems.add(w[:-3] + "y")
        if len(w) > 2 and stems.isdisjoint(english):
            return True
    return False


_DISTINCT_SCORES = {"uk": 0.6, "ca": 0.6, "ie": 0.6, "jp": 0.85}


def _postal_score(text: str, atom: Atom, shape: str, places: tuple[tuple[int, int], ...]) -> float:
    """A postal code outside any street address: labelled, before a town, after a region
    or a town spaCy knows, or of a shape no other number has."""
    value = text[atom.start : atom.end]
    fmt = atom.rule
    year = _year_like(value)
    plain = fmt == "digits"
    if shape == "label":
        return 0.85
    if fmt == "prefixed":  # "CH-8001" before a town only; "E-20417" is an employee number
        return 0.7 if value[:2] in ("LT", "LV", "EE") else 0.0
    if shape == "region_code":
        return 0.6 if year else 0.85
    if shape == "code_town":
        if year:  # "2000 Antwerpen" only alone on its line
            return 0.7 if not text[_line_start(text, atom.start) : atom.start].strip() else 0.0
        if plain and len(value) == 3:
            return 0.7 if _near_place(text, atom, places) else 0.0
        return 0.85
    if year:
        return 0.0
    if shape == "town_code":
        if _near_place(text, atom, places):
            return 0.85
        if not plain:
            return 0.7
        # "Torino, 10121" as a line of its own
        ls, le = _line_start(text, atom.start), _line_end(text, atom.end)
        alone = _LINE_TOWN_CODE_RX.fullmatch(text, ls, le)
        return 0.7 if alone and len(value) >= 5 else 0.0
    if (not plain or len(value) >= 5) and _near_place(text, atom, places):
        return 0.85
    if fmt in _DISTINCT_SCORES:
        return _DISTINCT_SCORES[fmt]
    if fmt == "dash" and len(value) == 10:
        return 0.5  # US ZIP+4
    return 0.0


def _near_place(text: str, atom: Atom, places: tuple[tuple[int, int], ...]) -> bool:
    """A town or region found by spaCy just before or after the code ("Helsinki 00170"),
    a word of three letters or more with a lower-case letter."""
    for s, e in places:
        name = text[s:e]
        if len(name) < 3 or name.isupper():
            continue
        if 0 <= atom.start - e <= 3 and not text[e : atom.start].strip(" ,-–"):
            return True
        if 0 <= s - atom.end <= 3 and not text[atom.end : s].strip(" ,-–"):
            return True
    return False


# --- the recognizers -------------------------------------------------------------------------


def _places(nlp_artifacts: NlpArtifacts | None) -> tuple[tuple[int, int], ...]:
    doc = getattr(nlp_artifacts, "tokens", None)
    ents = getattr(doc, "ents", None) or ()
    return tuple((e.start_char, e.end_char) for e in ents if e.label_ in ("GPE", "LOC"))


class AddressRecognizer(OneEntityRecognizer):
    """STREET_ADDRESS or POSTAL_CODE from `find_addresses` (the two share one analysis
    per text)."""

    def __init__(self, *, name: str, entity: str, context: Sequence[str]) -> None:
        super().__init__(supported_entities=[entity], name=name, context=list(context))

    def find(self, text: str, entity: str, nlp_artifacts: NlpArtifacts | None) -> list[RecognizerResult]:
        return [
            make_result(self, f.entity, f.start, f.end, f.score, f.rule)
            for f in find_addresses(text, _places(nlp_artifacts))
            if f.entity == entity
        ]


def street_address() -> AddressRecognizer:
    return AddressRecognizer(
        name="GuardStreetAddressRecognizer",
        entity="STREET_ADDRESS",
        context=["address", "lives", "live", "residing", "resides", "street", "home", "mail", "mailing", "billing"],
    )


def postal_code() -> AddressRecognizer:
    return AddressRecognizer(
        name="GuardPostalCodeRecognizer",
        entity="POSTAL_CODE",
        context=["zip", "postcode", "postal", "post code"],
    )


__all__ = ["AddressRecognizer", "Found", "find_addresses", "postal_code", "street_address"]
