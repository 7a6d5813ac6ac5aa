//! Relexicalised MultiWOZ utterances from convlab's delexicalised templates and database files.
//!
//! **What it is.** ConvLab-3 ships, for its template NLG, about 40,000 user and 29,000 system
//! utterances of the real MultiWOZ corpus with their slot values replaced by placeholders
//! (`I 'd like something in the #ATTRACTION-INFORM-AREA# .`), grouped by dialogue act
//! (`Attraction-Inform`) and by the act's slots (`Area;`). It also ships MultiWOZ's database files
//! (restaurants, hotels, attractions, trains, hospital departments, taxi colours and makes). This
//! module loads both and fills every placeholder with a value, seeded, recording the exact span of
//! every inserted value.
//!
//! **What it stands in for.** Relexicalised MultiWOZ utterances are this project's offline stand-in
//! for the paper's "MultiWOZ 2.1 (one utterance = one sequence)" corpus: they are real MultiWOZ
//! sentences (same users, same domains, same phrasing) whose slot values are re-drawn from the
//! MultiWOZ databases instead of being the values of the original dialogues. They are not the
//! original corpus: the 10k dialogues, their order and their original values are not available
//! offline. A user with MultiWOZ 2.1 uses [`crate::dialogue::multiwoz21`] instead.
//!
//! **How values are chosen.** Placeholders are `#DOMAIN-ACT-SLOT#`. For each domain an utterance
//! draws database entities at random; the k-th placeholder of a slot in a domain takes its value
//! from the k-th entity of that domain (so `#RESTAURANT-RECOMMEND-NAME# is in the
//! #RESTAURANT-RECOMMEND-AREA#` names a real restaurant with its real area). Slots that no database
//! column holds take values from lists: days (monday..sunday), people (1..8), stay (1..7 nights),
//! booking and taxi times (quarter hours), choice counts (2..20), reference numbers (8 upper-case
//! letters and digits), taxi cars (colour and make from `taxi_db.json`), taxi phones (10 digits).
//! Database values of `?` (unknown) are never used. Values are inserted as the database spells them
//! (mostly lower case), as in MultiWOZ's own annotations.
//!
//! **Text form.** The templates are tokenised the MultiWOZ way (`I ' m`, `is n't`, ` .`). By
//! default ([`UtteranceConfig::detokenize`]) they are turned into ordinary text first
//! ([`crate::text::detokenize`]); spans are computed on the final text either way.
//!
//! **Order.** convlab's files are grouped by speaker and act group, so in template order any prefix
//! of the corpus is one speaker and a few act groups (after a seeded 80/10/10 split, which keeps the
//! order inside each part, the first 10,000 training utterances were user Attraction, Hospital and
//! Hotel-Inform turns only). A caller that takes "the first N" of a part,
//! as the fine-tuning study takes the paper's "first 10,000 training sequences" of MultiWOZ 2.1
//! (dialogue order: every domain, user and system turns mixed), would train on one slice of the
//! domain. By default ([`UtteranceOrder::Shuffled`] with [`DEFAULT_ORDER_SEED`]) the utterances are
//! therefore returned in a seeded uniform random order: every prefix is a uniform sample of the
//! corpus, so its speaker and domain mix is the whole corpus's up to sampling error (58 % user,
//! 42 % system; the real corpus alternates, 50 / 50). Consecutive utterances do not form dialogues.
//! [`UtteranceOrder::Template`] keeps template order.
//!
//! Defaults: both speakers, every template relexicalised once (68,967 utterances), value seed 0,
//! shuffled with [`DEFAULT_ORDER_SEED`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::assets::AssetDir;
use crate::io::{read_json, Ctx};
use crate::text::{detokenize, HasText, SlotSpan, Speaker};
use crate::{Error, Result};

/// A MultiWOZ domain as named in templates and act groups.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Domain {
    /// Attractions (museums, colleges, ...).
    Attraction,
    /// Booking acts of the system, which refer to a hotel or restaurant.
    Booking,
    /// Addenbrookes hospital departments.
    Hospital,
    /// Hotels and guesthouses.
    Hotel,
    /// Parkside police station.
    Police,
    /// Restaurants.
    Restaurant,
    /// Taxis.
    Taxi,
    /// Trains.
    Train,
    /// Acts without a domain (`general-thank`, `general-bye`, ...).
    General,
}

impl Domain {
    /// All domains.
    pub const ALL: [Domain; 9] = [
        Domain::Attraction,
        Domain::Booking,
        Domain::Hospital,
        Domain::Hotel,
        Domain::Police,
        Domain::Restaurant,
        Domain::Taxi,
        Domain::Train,
        Domain::General,
    ];

    /// Parses a domain name in any case (`HOTEL`, `Hotel`, `hotel`).
    pub fn parse(name: &str) -> Option<Domain> {
        Domain::ALL
            .into_iter()
            .find(|d| d.name().eq_ignore_ascii_case(name))
    }

    /// The lower-case name (`hotel`).
    pub fn name(self) -> &'static str {
        match self {
            Domain::Attraction => "attraction",
            Domain::Booking => "booking",
            Domain::Hospital => "hospital",
            Domain::Hotel => "hotel",
            Domain::Police => "police",
            Domain::Restaurant => "restaurant",
            Domain::Taxi => "taxi",
            Domain::Train => "train",
            Domain::General => "general",
        }
    }
}

/// A slot code as used in convlab's templates (`#HOTEL-INFORM-STARS#`, key `Stars;`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[allow(missing_docs)]
pub enum SlotCode {
    Addr,
    Area,
    Arrive,
    Car,
    Choice,
    Day,
    Department,
    Depart,
    Dest,
    Fee,
    Food,
    Id,
    Internet,
    Leave,
    Name,
    Open,
    Parking,
    People,
    Phone,
    Post,
    Price,
    Ref,
    Stars,
    Stay,
    Ticket,
    Time,
    Type,
}

impl SlotCode {
    /// All slot codes.
    pub const ALL: [SlotCode; 27] = [
        SlotCode::Addr,
        SlotCode::Area,
        SlotCode::Arrive,
        SlotCode::Car,
        SlotCode::Choice,
        SlotCode::Day,
        SlotCode::Department,
        SlotCode::Depart,
        SlotCode::Dest,
        SlotCode::Fee,
        SlotCode::Food,
        SlotCode::Id,
        SlotCode::Internet,
        SlotCode::Leave,
        SlotCode::Name,
        SlotCode::Open,
        SlotCode::Parking,
        SlotCode::People,
        SlotCode::Phone,
        SlotCode::Post,
        SlotCode::Price,
        SlotCode::Ref,
        SlotCode::Stars,
        SlotCode::Stay,
        SlotCode::Ticket,
        SlotCode::Time,
        SlotCode::Type,
    ];

    /// Parses a code in any case (`STARS`, `Stars`).
    pub fn parse(code: &str) -> Option<SlotCode> {
        SlotCode::ALL
            .into_iter()
            .find(|s| s.name().eq_ignore_ascii_case(code))
    }

    /// The lower-case name (`stars`).
    pub fn name(self) -> &'static str {
        match self {
            SlotCode::Addr => "addr",
            SlotCode::Area => "area",
            SlotCode::Arrive => "arrive",
            SlotCode::Car => "car",
            SlotCode::Choice => "choice",
            SlotCode::Day => "day",
            SlotCode::Department => "department",
            SlotCode::Depart => "depart",
            SlotCode::Dest => "dest",
            SlotCode::Fee => "fee",
            SlotCode::Food => "food",
            SlotCode::Id => "id",
            SlotCode::Internet => "internet",
            SlotCode::Leave => "leave",
            SlotCode::Name => "name",
            SlotCode::Open => "open",
            SlotCode::Parking => "parking",
            SlotCode::People => "people",
            SlotCode::Phone => "phone",
            SlotCode::Post => "post",
            SlotCode::Price => "price",
            SlotCode::Ref => "ref",
            SlotCode::Stars => "stars",
            SlotCode::Stay => "stay",
            SlotCode::Ticket => "ticket",
            SlotCode::Time => "time",
            SlotCode::Type => "type",
        }
    }
}

/// One placeholder of a template, `#DOMAIN-ACT-SLOT#`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placeholder {
    /// Byte range of the placeholder (both `#` included) in the template text.
    pub range: std::ops::Range<usize>,
    /// The domain.
    pub domain: Domain,
    /// The act, upper case as written (`INFORM`, `RECOMMEND`, ...).
    pub act: String,
    /// The slot.
    pub slot: SlotCode,
}

/// Finds the placeholders `#DOMAIN-ACT-SLOT#` of a template text, in order. A `#` that does not
/// open a well-formed placeholder (as in `phone #`) is text. Unknown domains or slot codes in a
/// well-formed placeholder are returned as `Err(placeholder text)`.
pub fn placeholders(text: &str) -> std::result::Result<Vec<Placeholder>, String> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] != b'#' {
            i += 1;
            continue;
        }
        // Three runs of upper-case letters separated by '-', closed by '#'.
        let mut j = i + 1;
        let mut parts = Vec::with_capacity(3);
        let mut ok = false;
        loop {
            let start = j;
            while j < bytes.len() && bytes[j].is_ascii_uppercase() {
                j += 1;
            }
            if j == start {
                break;
            }
            parts.push(&text[start..j]);
            if j < bytes.len() && bytes[j] == b'-' && parts.len() < 3 {
                j += 1;
                continue;
            }
            ok = parts.len() == 3 && j < bytes.len() && bytes[j] == b'#';
            break;
        }
        if !ok {
            i += 1;
            continue;
        }
        let (domain, slot) = (Domain::parse(parts[0]), SlotCode::parse(parts[2]));
        match (domain, slot) {
            (Some(domain), Some(slot)) => out.push(Placeholder {
                range: i..j + 1,
                domain,
                act: parts[1].to_string(),
                slot,
            }),
            _ => return Err(text[i..j + 1].to_string()),
        }
        i = j + 1;
    }
    Ok(out)
}

/// One delexicalised template.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// The dialogue-act group it belongs to, e.g. `Restaurant-Inform`, `general-thank`.
    pub group: String,
    /// The key inside the group: the act's slots, e.g. `Area;Food;` (`none;` for none).
    pub key: String,
    /// The slots of the key, in key order (`none` left out).
    pub key_slots: Vec<SlotCode>,
    /// The template text as in the file (MultiWOZ tokenisation, whitespace as in the file).
    pub text: String,
    /// Its placeholders, on `text`.
    pub placeholders: Vec<Placeholder>,
}

/// All templates of one speaker.
#[derive(Debug, Clone)]
pub struct TemplateSet {
    /// The speaker of the templates.
    pub speaker: Speaker,
    /// Every template, ordered by group, then key, then file order.
    pub templates: Vec<Template>,
}

impl TemplateSet {
    /// Loads a convlab template file (`{group: {key: [text, ...]}}`).
    pub fn load(path: &Path, speaker: Speaker) -> Result<TemplateSet> {
        let json = read_json(path)?;
        let ctx = Ctx::new(path, "file");
        let groups = ctx.obj(&json, "(top level)")?;
        let mut templates = Vec::new();
        for (group, keys) in groups {
            let ctx = Ctx::new(path, format!("group {group}"));
            for (key, texts) in ctx.obj(keys, group)? {
                let ctx = Ctx::new(path, format!("group {group} key {key}"));
                let mut key_slots = Vec::new();
                // Key parts are slot codes, `none`, or (twice in the system file) `Choice-none`
                // (a slot whose value was "none"): the part before `-` names the slot.
                for part in key.split(';').filter(|p| !p.is_empty() && *p != "none") {
                    let part = part.split('-').next().unwrap_or(part);
                    key_slots.push(
                        SlotCode::parse(part)
                            .ok_or_else(|| ctx.err("key", format!("unknown slot `{part}`")))?,
                    );
                }
                for (i, text) in ctx.arr(texts, key)?.iter().enumerate() {
                    let field = format!("{key}[{i}]");
                    let text = ctx.str(text, &field)?;
                    let found = placeholders(text).map_err(|p| {
                        ctx.err(&field, format!("unknown domain or slot in placeholder {p}"))
                    })?;
                    templates.push(Template {
                        group: group.clone(),
                        key: key.clone(),
                        key_slots: key_slots.clone(),
                        text: text.to_string(),
                        placeholders: found,
                    });
                }
            }
        }
        Ok(TemplateSet { speaker, templates })
    }

    /// The distinct act groups, sorted.
    pub fn groups(&self) -> Vec<&str> {
        let mut groups: Vec<&str> = self.templates.iter().map(|t| t.group.as_str()).collect();
        groups.dedup();
        groups
    }

    /// The templates of one act group.
    pub fn group<'a>(&'a self, group: &'a str) -> impl Iterator<Item = &'a Template> + 'a {
        self.templates.iter().filter(move |t| t.group == group)
    }
}

/// One database entity (a restaurant, a train, ...): its values by slot code.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Entity {
    /// The known values (database `?` left out).
    pub values: BTreeMap<SlotCode, String>,
}

/// MultiWOZ's database files.
#[derive(Debug, Clone, Default)]
pub struct Database {
    entities: BTreeMap<Domain, Vec<Entity>>,
    taxi_colors: Vec<String>,
    taxi_types: Vec<String>,
}

/// A database file: its domain, file name, and (column, slot code) pairs.
type DbFile = (Domain, &'static str, &'static [(&'static str, SlotCode)]);

/// Database columns and the slot codes they fill, per domain file.
const COLUMNS: [DbFile; 6] = [
    (
        Domain::Attraction,
        "attraction_db.json",
        &[
            ("address", SlotCode::Addr),
            ("area", SlotCode::Area),
            ("entrance fee", SlotCode::Fee),
            ("name", SlotCode::Name),
            ("openhours", SlotCode::Open),
            ("phone", SlotCode::Phone),
            ("postcode", SlotCode::Post),
            ("pricerange", SlotCode::Price),
            ("type", SlotCode::Type),
        ],
    ),
    (
        Domain::Hospital,
        "hospital_db.json",
        &[
            ("department", SlotCode::Department),
            ("phone", SlotCode::Phone),
        ],
    ),
    (
        Domain::Hotel,
        "hotel_db.json",
        &[
            ("address", SlotCode::Addr),
            ("area", SlotCode::Area),
            ("internet", SlotCode::Internet),
            ("parking", SlotCode::Parking),
            ("name", SlotCode::Name),
            ("phone", SlotCode::Phone),
            ("postcode", SlotCode::Post),
            ("pricerange", SlotCode::Price),
            ("stars", SlotCode::Stars),
            ("type", SlotCode::Type),
        ],
    ),
    (
        Domain::Police,
        "police_db.json",
        &[
            ("name", SlotCode::Name),
            ("address", SlotCode::Addr),
            ("phone", SlotCode::Phone),
        ],
    ),
    (
        Domain::Restaurant,
        "restaurant_db.json",
        &[
            ("address", SlotCode::Addr),
            ("area", SlotCode::Area),
            ("food", SlotCode::Food),
            ("name", SlotCode::Name),
            ("phone", SlotCode::Phone),
            ("postcode", SlotCode::Post),
            ("pricerange", SlotCode::Price),
        ],
    ),
    (
        Domain::Train,
        "train_db.json",
        &[
            ("arriveBy", SlotCode::Arrive),
            ("day", SlotCode::Day),
            ("departure", SlotCode::Depart),
            ("destination", SlotCode::Dest),
            ("duration", SlotCode::Time),
            ("leaveAt", SlotCode::Leave),
            ("price", SlotCode::Ticket),
            ("trainID", SlotCode::Id),
        ],
    ),
];

impl Database {
    /// Loads `attraction_db.json`, `hospital_db.json`, `hotel_db.json`, `police_db.json`,
    /// `restaurant_db.json`, `train_db.json` (lists of records) and `taxi_db.json`
    /// (`taxi_colors`, `taxi_types`) from `dir`. Columns other than those used for relexicalisation
    /// are ignored; string values of `?` and empty strings count as unknown.
    pub fn load(dir: &Path) -> Result<Database> {
        let mut db = Database::default();
        for (domain, file, columns) in COLUMNS {
            let path = dir.join(file);
            let json = read_json(&path)?;
            let records = Ctx::new(&path, "file").arr(&json, "(top level)")?;
            let mut entities = Vec::with_capacity(records.len());
            for (i, record) in records.iter().enumerate() {
                let ctx = Ctx::new(&path, format!("record {i}"));
                let record = ctx.obj(record, "(record)")?;
                let mut entity = Entity::default();
                for &(column, slot) in columns {
                    let value = match record.get(column) {
                        None | Some(Value::Null) => continue,
                        Some(Value::String(s)) => s.trim().to_string(),
                        Some(Value::Number(n)) => n.to_string(),
                        Some(other) => {
                            return Err(ctx.err(
                                column,
                                format!("expected a string, found {}", crate::io::kind(other)),
                            ))
                        }
                    };
                    if !value.is_empty() && value != "?" {
                        entity.values.insert(slot, value);
                    }
                }
                entities.push(entity);
            }
            db.entities.insert(domain, entities);
        }
        let path = dir.join("taxi_db.json");
        let json = read_json(&path)?;
        let ctx = Ctx::new(&path, "file");
        let taxi = ctx.obj(&json, "(top level)")?;
        for (field, target) in [
            ("taxi_colors", &mut db.taxi_colors),
            ("taxi_types", &mut db.taxi_types),
        ] {
            for (i, v) in ctx
                .arr(ctx.get(taxi, field, field)?, field)?
                .iter()
                .enumerate()
            {
                target.push(ctx.str(v, &format!("{field}[{i}]"))?.to_string());
            }
            if target.is_empty() {
                return Err(ctx.err(field, "empty list"));
            }
        }
        Ok(db)
    }

    /// The entities of a domain (empty for taxi, booking and general).
    pub fn entities(&self, domain: Domain) -> &[Entity] {
        self.entities.get(&domain).map_or(&[], Vec::as_slice)
    }

    /// Taxi colours from `taxi_db.json`.
    pub fn taxi_colors(&self) -> &[String] {
        &self.taxi_colors
    }

    /// Taxi makes from `taxi_db.json`.
    pub fn taxi_types(&self) -> &[String] {
        &self.taxi_types
    }
}

/// Value lists for every (domain, slot) a template can ask for: database columns plus the lists
/// named in the module docs. Built once from a [`Database`].
#[derive(Debug, Clone)]
pub struct Lexicon {
    values: BTreeMap<(Domain, SlotCode), Vec<String>>,
    booking_entities: Vec<Entity>,
}

/// `hh:mm` times every 15 minutes from `from` to `to` hours (inclusive of `to:45`).
fn quarter_hours(from: u32, to: u32) -> Vec<String> {
    (from..=to)
        .flat_map(|h| [0, 15, 30, 45].map(|m| format!("{h:02}:{m:02}")))
        .collect()
}

fn numbers(from: u32, to: u32) -> Vec<String> {
    (from..=to).map(|n| n.to_string()).collect()
}

/// The days of the week as MultiWOZ writes them.
pub const DAYS: [&str; 7] = [
    "monday",
    "tuesday",
    "wednesday",
    "thursday",
    "friday",
    "saturday",
    "sunday",
];

impl Lexicon {
    /// Builds the value lists from a database.
    pub fn from_database(db: &Database) -> Lexicon {
        let mut values: BTreeMap<(Domain, SlotCode), Vec<String>> = BTreeMap::new();
        for (&domain, entities) in &db.entities {
            for entity in entities {
                for (&slot, value) in &entity.values {
                    values
                        .entry((domain, slot))
                        .or_default()
                        .push(value.clone());
                }
            }
        }
        let names = |d: Domain| -> Vec<String> {
            values
                .get(&(d, SlotCode::Name))
                .cloned()
                .unwrap_or_default()
        };
        let mut places = names(Domain::Restaurant);
        places.extend(names(Domain::Hotel));
        places.extend(names(Domain::Attraction));
        let mut booking_names = names(Domain::Restaurant);
        booking_names.extend(names(Domain::Hotel));
        let days: Vec<String> = DAYS.iter().map(|d| d.to_string()).collect();
        let cars: Vec<String> = db
            .taxi_colors
            .iter()
            .flat_map(|c| db.taxi_types.iter().map(move |t| format!("{c} {t}")))
            .collect();
        for domain in [
            Domain::Hotel,
            Domain::Restaurant,
            Domain::Train,
            Domain::Booking,
        ] {
            values.insert((domain, SlotCode::Day), days.clone());
            values.insert((domain, SlotCode::People), numbers(1, 8));
        }
        for domain in [Domain::Hotel, Domain::Booking] {
            values.insert((domain, SlotCode::Stay), numbers(1, 7));
        }
        for domain in [Domain::Restaurant, Domain::Booking] {
            values.insert((domain, SlotCode::Time), quarter_hours(11, 21));
        }
        values.insert((Domain::Booking, SlotCode::Name), booking_names);
        values.insert((Domain::Taxi, SlotCode::Leave), quarter_hours(6, 23));
        values.insert((Domain::Taxi, SlotCode::Arrive), quarter_hours(6, 23));
        values.insert((Domain::Taxi, SlotCode::Depart), places.clone());
        values.insert((Domain::Taxi, SlotCode::Dest), places);
        values.insert((Domain::Taxi, SlotCode::Car), cars);
        for domain in Domain::ALL {
            values.insert((domain, SlotCode::Choice), numbers(2, 20));
        }
        for list in values.values_mut() {
            list.sort();
            list.dedup();
        }
        let mut booking_entities = db.entities(Domain::Restaurant).to_vec();
        booking_entities.extend(db.entities(Domain::Hotel).iter().cloned());
        Lexicon {
            values,
            booking_entities,
        }
    }

    /// The sorted distinct values of a (domain, slot), if it has a list. Reference numbers and taxi
    /// phones are generated, not listed.
    pub fn values(&self, domain: Domain, slot: SlotCode) -> Option<&[String]> {
        self.values.get(&(domain, slot)).map(Vec::as_slice)
    }

    /// Draws a value for (domain, slot): from its list, or generated (reference numbers for any
    /// domain, phones for taxis). `None` when the lexicon has nothing for it.
    pub fn sample(&self, domain: Domain, slot: SlotCode, rng: &mut impl Rng) -> Option<String> {
        match (domain, slot) {
            (_, SlotCode::Ref) => {
                const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
                Some(
                    (0..8)
                        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
                        .collect(),
                )
            }
            (Domain::Taxi, SlotCode::Phone) => {
                Some(format!("07{:08}", rng.random_range(0..100_000_000u32)))
            }
            _ => self.values(domain, slot)?.choose(rng).cloned(),
        }
    }

    fn entity_pool<'a>(&'a self, db: &'a Database, domain: Domain) -> &'a [Entity] {
        match domain {
            Domain::Booking => &self.booking_entities,
            d => db.entities(d),
        }
    }
}

/// Values fixed by the caller for some (domain, slot)s: the first placeholder of that (domain, slot)
/// in a template takes the fixed value instead of a drawn one (later ones, as in
/// `Addr;Addr;`, describe other entities and are drawn). Used to keep dialogues consistent.
pub type FixedValues = BTreeMap<(Domain, SlotCode), String>;

/// A template with its placeholders filled.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filled {
    /// The final text.
    pub text: String,
    /// Where every inserted value sits in `text`, slot named `domain-slot` (`restaurant-food`),
    /// with the placeholder's act in [`FilledValue::act`].
    pub values: Vec<FilledValue>,
}

/// One inserted value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilledValue {
    /// The placeholder's domain.
    pub domain: Domain,
    /// The placeholder's act (`INFORM`, `RECOMMEND`, ...).
    pub act: String,
    /// The placeholder's slot.
    pub slot: SlotCode,
    /// The span, slot named `domain-slot`.
    pub span: SlotSpan,
}

/// Fills templates with values from a [`Database`] and [`Lexicon`].
#[derive(Debug, Clone)]
pub struct Relexicaliser {
    database: Database,
    lexicon: Lexicon,
    detokenize: bool,
}

impl Relexicaliser {
    /// A relexicaliser over `database`; `detokenize` turns MultiWOZ tokenisation into ordinary text
    /// first (see [`crate::text::detokenize`]).
    pub fn new(database: Database, detokenize: bool) -> Relexicaliser {
        let lexicon = Lexicon::from_database(&database);
        Relexicaliser {
            database,
            lexicon,
            detokenize,
        }
    }

    /// The database.
    pub fn database(&self) -> &Database {
        &self.database
    }

    /// The value lists.
    pub fn lexicon(&self) -> &Lexicon {
        &self.lexicon
    }

    /// The template text in the form that will be filled (detokenised or whitespace-collapsed).
    pub fn surface(&self, template_text: &str) -> String {
        if self.detokenize {
            detokenize(template_text)
        } else {
            template_text
                .split_whitespace()
                .collect::<Vec<_>>()
                .join(" ")
        }
    }

    /// Fills every placeholder of `template` (see the module docs for how values are chosen), with
    /// `fixed` values taking precedence.
    ///
    /// Errors with [`Error::Malformed`] naming the template when a placeholder asks for a
    /// (domain, slot) that neither the database nor the value lists can fill.
    pub fn fill(
        &self,
        template: &Template,
        fixed: &FixedValues,
        rng: &mut impl Rng,
    ) -> Result<Filled> {
        let surface = self.surface(&template.text);
        // The placeholders of the surface form (detokenising never touches them, but recompute
        // so the ranges are on the text we fill).
        let found = placeholders(&surface).map_err(|p| {
            Error::malformed(
                PathBuf::from("(template)"),
                format!("group {} key {}", template.group, template.key),
                "text",
                format!("unknown domain or slot in placeholder {p}"),
            )
        })?;
        let mut chosen: BTreeMap<Domain, Vec<usize>> = BTreeMap::new();
        let mut seen: BTreeMap<(Domain, SlotCode), usize> = BTreeMap::new();
        let mut text = String::with_capacity(surface.len() + 32);
        let mut values = Vec::with_capacity(found.len());
        let mut last = 0;
        for ph in &found {
            text.push_str(&surface[last..ph.range.start]);
            last = ph.range.end;
            let k = {
                let count = seen.entry((ph.domain, ph.slot)).or_insert(0);
                *count += 1;
                *count - 1
            };
            let value = match fixed.get(&(ph.domain, ph.slot)) {
                Some(v) if k == 0 => v.clone(),
                _ => self
                    .entity_value(ph.domain, ph.slot, k, &mut chosen, rng)
                    .or_else(|| self.lexicon.sample(ph.domain, ph.slot, rng))
                    .ok_or_else(|| {
                        Error::malformed(
                            PathBuf::from("(template)"),
                            format!("group {} key {}", template.group, template.key),
                            "text",
                            format!(
                                "no database column or value list for {}-{}",
                                ph.domain.name(),
                                ph.slot.name()
                            ),
                        )
                    })?,
            };
            let start = text.len();
            text.push_str(&value);
            values.push(FilledValue {
                domain: ph.domain,
                act: ph.act.clone(),
                slot: ph.slot,
                span: SlotSpan {
                    slot: format!("{}-{}", ph.domain.name(), ph.slot.name()),
                    value,
                    start,
                    end: text.len(),
                },
            });
        }
        text.push_str(&surface[last..]);
        Ok(Filled { text, values })
    }

    /// The value of `slot` of the `k`-th entity drawn for `domain` in this utterance, drawing
    /// entities (distinct while the pool lasts) as needed.
    fn entity_value(
        &self,
        domain: Domain,
        slot: SlotCode,
        k: usize,
        chosen: &mut BTreeMap<Domain, Vec<usize>>,
        rng: &mut impl Rng,
    ) -> Option<String> {
        let pool = self.lexicon.entity_pool(&self.database, domain);
        if pool.is_empty() {
            return None;
        }
        let picked = chosen.entry(domain).or_default();
        while picked.len() <= k {
            let mut index = rng.random_range(0..pool.len());
            if picked.len() < pool.len() {
                while picked.contains(&index) {
                    index = rng.random_range(0..pool.len());
                }
            }
            picked.push(index);
        }
        pool[picked[k]].values.get(&slot).cloned()
    }
}

/// A relexicalised MultiWOZ utterance.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Utterance {
    /// The text.
    pub text: String,
    /// Who says it.
    pub speaker: Speaker,
    /// The dialogue-act group of its template, e.g. `Restaurant-Inform`.
    pub act_group: String,
    /// Every inserted value with its exact span (`&text[start..end] == value`), slot named
    /// `domain-slot` after the placeholder (`restaurant-food`, `train-leave`, `booking-ref`).
    pub slot_values: Vec<SlotSpan>,
}

impl HasText for Utterance {
    fn text(&self) -> &str {
        &self.text
    }
}

/// convlab's user and system templates with the MultiWOZ database.
#[derive(Debug, Clone)]
pub struct MultiwozTemplates {
    /// User templates (17 act groups).
    pub user: TemplateSet,
    /// System templates (31 act groups).
    pub system: TemplateSet,
    /// The database files.
    pub database: Database,
}

impl MultiwozTemplates {
    /// Loads the `convlab` offline asset.
    pub fn load(assets: &AssetDir) -> Result<MultiwozTemplates> {
        let user = AssetDir::require(assets.convlab_templates(Speaker::User), "convlab")?;
        let system = AssetDir::require(assets.convlab_templates(Speaker::System), "convlab")?;
        let db = AssetDir::require(assets.convlab_db(), "convlab")?;
        MultiwozTemplates::load_from(&user, &system, &db)
    }

    /// Loads template files and a database folder from explicit paths.
    pub fn load_from(user: &Path, system: &Path, db_dir: &Path) -> Result<MultiwozTemplates> {
        Ok(MultiwozTemplates {
            user: TemplateSet::load(user, Speaker::User)?,
            system: TemplateSet::load(system, Speaker::System)?,
            database: Database::load(db_dir)?,
        })
    }

    /// The templates of one speaker.
    pub fn templates(&self, speaker: Speaker) -> &TemplateSet {
        match speaker {
            Speaker::User => &self.user,
            Speaker::System => &self.system,
        }
    }
}

/// Which speakers' templates to use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
pub enum Speakers {
    /// User templates only.
    User,
    /// System templates only.
    System,
    /// Both (in template order: user first, then system).
    #[default]
    Both,
}

impl Speakers {
    /// The speakers, in output order.
    pub fn list(self) -> &'static [Speaker] {
        match self {
            Speakers::User => &[Speaker::User],
            Speakers::System => &[Speaker::System],
            Speakers::Both => &[Speaker::User, Speaker::System],
        }
    }
}

/// Seed of the default order of [`utterances`] ([`UtteranceOrder::Shuffled`]): the ASCII bytes of
/// `mwoz`. Fixed, and distinct from the seeds the studies split and sample with (0, 42, 778), so
/// that the order and a later seeded split of the same length are not the same permutation.
pub const DEFAULT_ORDER_SEED: u64 = 0x6d77_6f7a;

/// The order of [`utterances`]' output (see the module docs for why the default is shuffled).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum UtteranceOrder {
    /// convlab's template order: speakers in [`Speakers::list`] order, then act group, key and file
    /// order; the `per_template` relexicalisations of a template are adjacent.
    Template,
    /// Template order permuted uniformly at random: the list shuffled with ChaCha8 seeded by
    /// `seed` (Fisher-Yates, rand 0.9's `SliceRandom::shuffle`). Values are drawn in template order first,
    /// so the utterances are those of [`UtteranceOrder::Template`] with the same value seed,
    /// reordered.
    Shuffled {
        /// The seed of the permutation.
        seed: u64,
    },
}

impl Default for UtteranceOrder {
    /// `Shuffled` with [`DEFAULT_ORDER_SEED`].
    fn default() -> Self {
        UtteranceOrder::Shuffled {
            seed: DEFAULT_ORDER_SEED,
        }
    }
}

/// Settings of [`utterances`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UtteranceConfig {
    /// Which speakers (default both).
    pub speakers: Speakers,
    /// Detokenise MultiWOZ tokenisation (default true).
    pub detokenize: bool,
    /// How many times each template is relexicalised (default 1; each time with new values).
    pub per_template: usize,
    /// Seed of the value draws (default 0).
    pub seed: u64,
    /// Order of the output (default shuffled with [`DEFAULT_ORDER_SEED`]).
    pub order: UtteranceOrder,
}

impl Default for UtteranceConfig {
    fn default() -> Self {
        UtteranceConfig {
            speakers: Speakers::Both,
            detokenize: true,
            per_template: 1,
            seed: 0,
            order: UtteranceOrder::default(),
        }
    }
}

/// Relexicalises every template of the chosen speakers `per_template` times (values drawn in
/// template order, user before system) and returns them in `config.order` (default: a seeded
/// shuffle, see the module docs). Deterministic for a given config. Duplicated texts are kept, as
/// the real corpus has them (`Thank you .`); see [`crate::text::dedup_by_text`].
pub fn utterances(
    templates: &MultiwozTemplates,
    config: &UtteranceConfig,
) -> Result<Vec<Utterance>> {
    if config.per_template == 0 {
        return Err(Error::parameter("per_template", "must be at least 1"));
    }
    let relex = Relexicaliser::new(templates.database.clone(), config.detokenize);
    let mut rng = ChaCha8Rng::seed_from_u64(config.seed);
    let fixed = FixedValues::new();
    let mut out = Vec::new();
    for &speaker in config.speakers.list() {
        for template in &templates.templates(speaker).templates {
            for _ in 0..config.per_template {
                let filled = relex.fill(template, &fixed, &mut rng)?;
                out.push(Utterance {
                    text: filled.text,
                    speaker,
                    act_group: template.group.clone(),
                    slot_values: filled.values.into_iter().map(|v| v.span).collect(),
                });
            }
        }
    }
    if let UtteranceOrder::Shuffled { seed } = config.order {
        out.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_parse_and_ignore_stray_hashes() {
        let text = "I need the phone # for #HOTEL-INFORM-NAME# at 14:#RESTAURANT-INFORM-TIME#0";
        let found = placeholders(text).unwrap();
        assert_eq!(found.len(), 2);
        assert_eq!(&text[found[0].range.clone()], "#HOTEL-INFORM-NAME#");
        assert_eq!(found[0].domain, Domain::Hotel);
        assert_eq!(found[0].act, "INFORM");
        assert_eq!(found[1].slot, SlotCode::Time);
        assert!(placeholders("#HOTEL-INFORM-COLOUR#").is_err());
        assert!(placeholders("# A-B #").unwrap().is_empty());
    }
}
