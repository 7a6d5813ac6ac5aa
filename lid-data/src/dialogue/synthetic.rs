//! Synthetic multi-turn dialogues with known belief states: the offline stand-in for MultiWOZ 2.1
//! in the dialogue-state-tracking study.
//!
//! **What it stands in for.** The paper trains TripPy-R on MultiWOZ 2.1, whose 10k dialogues are
//! not available offline. These dialogues are composed from convlab's real MultiWOZ user and system
//! utterance templates and MultiWOZ's database files, so every user utterance is a real MultiWOZ
//! sentence and the cumulative belief state is known **by construction**. They are not MultiWOZ
//! dialogues: the dialogue flow is a simple generator (below), not a human conversation. A user with
//! MultiWOZ 2.1 uses [`super::multiwoz21`] or [`super::unified`] instead.
//!
//! **How a dialogue is built.** 1 to 3 of the five DST domains (restaurant, hotel, attraction,
//! train, taxi) are visited in random order. Per domain a target entity is drawn from the database
//! (a restaurant, hotel, attraction or train; for taxis two places and times), and the user:
//! 1. may open the domain without constraints (`none;` inform templates, `p_open`);
//! 2. informs search constraints once or twice (`<Domain>-Inform` templates whose key slots are
//!    not yet in the state; or, with `p_name`, asks for the entity by name), values taken from the
//!    target entity; with `p_dontcare` a hand-written phrase ("I don't care about the area.") adds a
//!    `dontcare` for one more slot of the domain;
//! 3. may change an informed value (`p_update`; a new target entity with a different value);
//! 4. books (restaurant: day, people, time; hotel: day, people, stay; train: people) with `p_book`;
//! 5. may request attributes (`<Domain>-Request` templates, no state change), `p_request`;
//!
//! and the dialogue ends with a `general-thank` or `general-bye` user turn. The system turn before
//! each user turn answers the previous user turn: it asks for a constraint (`<Domain>-Request`),
//! offers the target entity (`Recommend`/`Inform` templates with its name; `Train-Inform` /
//! `Train-OfferBook`; `Taxi-Inform`), confirms a booking (`Booking-Book`, `Train-OfferBooked`), or,
//! at a domain change, asks whether anything else is needed (`general-reqmore`). When the system
//! offered a name the user had not given, the user's next booking or request turn accepts it with
//! `p_accept`: the name enters the state **without** appearing in the user turn (TripPy's `inform`
//! case). Values are carried over: the state after turn t is the state after t-1 updated by turn
//! t's spans, dontcares and accepted names, and nothing else.
//!
//! **Clean user turns.** Real templates sometimes mention values verbatim that the template's key
//! does not list ("... for 8 people starting Friday", "I don't care about the price"). So that the
//! state is exact, user templates are only used when every key slot appears as exactly one
//! placeholder of the domain, and when the text outside the placeholders contains no digit, day
//! name, price or area word, number word (two..eight), "care"/"matter"/"preference"/"mind", food
//! or attraction type, guesthouse, multi-word database name, and, for train and taxi, no station.
//!
//! **Slots.** 28 slots of MultiWOZ 2.1's 30 (hotel-parking and hotel-internet are never
//! delexicalised in the templates), 14 of them categorical ([`super::is_categorical`]); the ontology
//! lists every value the generator can produce.
//!
//! Defaults: 1,000 dialogues, 1-3 domains, at most 12 turns, `p_open` 0.2, `p_name` 0.15,
//! `p_second_search` 0.5, `p_dontcare` 0.15, `p_update` 0.1, `p_book` 0.7, `p_request` 0.4,
//! `p_accept` 0.6, detokenised text, seed 0.

use std::collections::{BTreeMap, BTreeSet, HashSet};

use rand::seq::{IndexedRandom, SliceRandom};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

use super::{is_categorical, state_slot, Dialogue, Ontology, SlotInfo, Turn, DONTCARE};
use crate::multiwoz_templates::{
    Domain, Entity, FixedValues, MultiwozTemplates, Relexicaliser, SlotCode, Template,
};
use crate::text::{find_value, SlotSpan};
use crate::{Error, Result};

/// Settings of [`generate`] (defaults in the module docs).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SyntheticConfig {
    /// Number of dialogues.
    pub dialogues: usize,
    /// Fewest domains per dialogue (1..=5).
    pub min_domains: usize,
    /// Most domains per dialogue (min_domains..=5).
    pub max_domains: usize,
    /// Most turns per dialogue (at least 2), the closing turn included.
    pub max_turns: usize,
    /// Probability of an opening turn without constraints.
    pub p_open: f64,
    /// Probability that the first search asks for the entity by name (restaurant, hotel, attraction).
    pub p_name: f64,
    /// Probability of a second search turn.
    pub p_second_search: f64,
    /// Probability that a search turn adds a `dontcare` slot.
    pub p_dontcare: f64,
    /// Probability of a turn that changes an informed value.
    pub p_update: f64,
    /// Probability of a booking turn (restaurant, hotel, train).
    pub p_book: f64,
    /// Probability of a request turn.
    pub p_request: f64,
    /// Probability that the user accepts a name the system offered.
    pub p_accept: f64,
    /// Detokenise the MultiWOZ tokenisation of the templates.
    pub detokenize: bool,
    /// Seed.
    pub seed: u64,
}

impl Default for SyntheticConfig {
    fn default() -> Self {
        SyntheticConfig {
            dialogues: 1000,
            min_domains: 1,
            max_domains: 3,
            max_turns: 12,
            p_open: 0.2,
            p_name: 0.15,
            p_second_search: 0.5,
            p_dontcare: 0.15,
            p_update: 0.1,
            p_book: 0.7,
            p_request: 0.4,
            p_accept: 0.6,
            detokenize: true,
            seed: 0,
        }
    }
}

impl SyntheticConfig {
    /// Checks the ranges.
    pub fn check(&self) -> Result<()> {
        if !(1..=DST_DOMAINS.len()).contains(&self.min_domains) {
            return Err(Error::parameter("min_domains", "must be in 1..=5"));
        }
        if !(self.min_domains..=DST_DOMAINS.len()).contains(&self.max_domains) {
            return Err(Error::parameter(
                "max_domains",
                "must be in min_domains..=5",
            ));
        }
        if self.max_turns < 2 {
            return Err(Error::parameter("max_turns", "must be at least 2"));
        }
        for (name, p) in [
            ("p_open", self.p_open),
            ("p_name", self.p_name),
            ("p_second_search", self.p_second_search),
            ("p_dontcare", self.p_dontcare),
            ("p_update", self.p_update),
            ("p_book", self.p_book),
            ("p_request", self.p_request),
            ("p_accept", self.p_accept),
        ] {
            if !(0.0..=1.0).contains(&p) {
                return Err(Error::parameter(name, format!("{p} is not a probability")));
            }
        }
        Ok(())
    }
}

/// Generated dialogues and their ontology.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyntheticDialogues {
    /// The dialogues, ids `synthetic-00000`, ...
    pub dialogues: Vec<Dialogue>,
    /// Every slot the generator can fill, with every value it can produce.
    pub ontology: Ontology,
}

/// The five domains of MultiWOZ 2.1 dialogue state tracking.
pub const DST_DOMAINS: [Domain; 5] = [
    Domain::Restaurant,
    Domain::Hotel,
    Domain::Attraction,
    Domain::Train,
    Domain::Taxi,
];

fn search_slots(domain: Domain) -> &'static [SlotCode] {
    use SlotCode as S;
    match domain {
        Domain::Restaurant => &[S::Area, S::Food, S::Price],
        Domain::Hotel => &[S::Area, S::Price, S::Stars, S::Type],
        Domain::Attraction => &[S::Area, S::Type],
        Domain::Train => &[S::Depart, S::Dest, S::Day, S::Leave, S::Arrive],
        Domain::Taxi => &[S::Depart, S::Dest, S::Leave, S::Arrive],
        _ => &[],
    }
}

fn book_slots(domain: Domain) -> &'static [SlotCode] {
    use SlotCode as S;
    match domain {
        Domain::Restaurant => &[S::Day, S::People, S::Time],
        Domain::Hotel => &[S::Day, S::People, S::Stay],
        Domain::Train => &[S::People],
        _ => &[],
    }
}

fn has_name(domain: Domain) -> bool {
    matches!(
        domain,
        Domain::Restaurant | Domain::Hotel | Domain::Attraction
    )
}

/// Slots that can be `dontcare`, with the words used for them in the hand-written phrases.
fn dontcare_slots(domain: Domain) -> &'static [(SlotCode, &'static [&'static str])] {
    use SlotCode as S;
    const AREA: &[&str] = &["area", "part of town", "location"];
    const PRICE: &[&str] = &["price range", "price"];
    match domain {
        Domain::Restaurant => &[
            (S::Area, AREA),
            (S::Price, PRICE),
            (S::Food, &["type of food", "cuisine"]),
        ],
        Domain::Hotel => &[
            (S::Area, AREA),
            (S::Price, PRICE),
            (S::Stars, &["star rating", "number of stars"]),
            (S::Type, &["type of place", "kind of accommodation"]),
        ],
        Domain::Attraction => &[
            (S::Area, AREA),
            (S::Type, &["type of attraction", "kind of attraction"]),
        ],
        Domain::Train => &[
            (S::Leave, &["departure time", "time I leave"]),
            (S::Arrive, &["arrival time", "time I arrive"]),
        ],
        _ => &[],
    }
}

/// Hand-written `dontcare` phrases in MultiWOZ tokenisation (`{}` = the slot's words).
const DONTCARE_PHRASES: [&str; 5] = [
    "I do n't care about the {} .",
    "The {} does n't matter .",
    "Any {} is fine .",
    "I have no preference for the {} .",
    "The {} is not important to me .",
];

/// The user acts a domain's plan is made of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    Open,
    Search { by_name: bool },
    Update,
    Book,
    Request,
}

/// Templates sorted by use, after the cleanliness filter.
struct Index<'a> {
    inform: BTreeMap<Domain, Vec<&'a Template>>,
    open: BTreeMap<Domain, Vec<&'a Template>>,
    request: BTreeMap<Domain, Vec<&'a Template>>,
    closing: Vec<&'a Template>,
    sys_request: BTreeMap<Domain, Vec<&'a Template>>,
    sys_offer: BTreeMap<Domain, Vec<&'a Template>>,
    sys_inform: BTreeMap<Domain, Vec<&'a Template>>,
    sys_booked: BTreeMap<Domain, Vec<&'a Template>>,
    sys_reqmore: Vec<&'a Template>,
}

/// Words and phrases whose verbatim presence in a user template would be an unlabelled value.
struct Noise {
    words: HashSet<String>,
    phrases: Vec<String>,
    stations: Vec<String>,
}

impl Noise {
    fn new(relex: &Relexicaliser) -> Noise {
        let lex = relex.lexicon();
        let mut words: HashSet<String> = [
            "monday",
            "tuesday",
            "wednesday",
            "thursday",
            "friday",
            "saturday",
            "sunday",
            "weekend",
            "cheap",
            "cheaply",
            "moderate",
            "moderately",
            "expensive",
            "pricey",
            "north",
            "south",
            "east",
            "west",
            "centre",
            "center",
            "central",
            "downtown",
            "two",
            "three",
            "four",
            "five",
            "six",
            "seven",
            "eight",
            "care",
            "matter",
            "matters",
            "preference",
            "preferences",
            "mind",
            "guesthouse",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        let mut phrases = vec!["guest house".to_string()];
        let mut add = |value: &str| {
            let v = value.to_lowercase();
            if v.split_whitespace().count() > 1 {
                phrases.push(v);
            } else {
                words.insert(v);
            }
        };
        for (domain, slot) in [
            (Domain::Restaurant, SlotCode::Food),
            (Domain::Attraction, SlotCode::Type),
        ] {
            for v in lex.values(domain, slot).unwrap_or(&[]) {
                add(v);
            }
        }
        for domain in [Domain::Restaurant, Domain::Hotel, Domain::Attraction] {
            for v in lex.values(domain, SlotCode::Name).unwrap_or(&[]) {
                if v.split_whitespace().count() > 1 {
                    phrases.push(v.to_lowercase());
                }
            }
        }
        let mut stations: Vec<String> = lex
            .values(Domain::Train, SlotCode::Depart)
            .unwrap_or(&[])
            .iter()
            .map(|s| s.to_lowercase())
            .collect();
        stations.extend(["london".to_string(), "cambridge".to_string()]);
        Noise {
            words,
            phrases,
            stations,
        }
    }

    /// Whether `text` (placeholders removed) is free of verbatim values for `domain`.
    fn clean(&self, text: &str, domain: Domain) -> bool {
        let lower = text.to_lowercase();
        if lower.bytes().any(|b| b.is_ascii_digit()) {
            return false;
        }
        if lower
            .split(|c: char| !c.is_alphanumeric())
            .any(|w| self.words.contains(w))
        {
            return false;
        }
        if self.phrases.iter().any(|p| find_value(&lower, p).is_some()) {
            return false;
        }
        if matches!(domain, Domain::Train | Domain::Taxi)
            && self
                .stations
                .iter()
                .any(|s| find_value(&lower, s).is_some())
        {
            return false;
        }
        true
    }
}

/// The template text with its placeholders removed.
fn without_placeholders(t: &Template) -> String {
    let mut out = String::new();
    let mut last = 0;
    for p in &t.placeholders {
        out.push_str(&t.text[last..p.range.start]);
        out.push(' ');
        last = p.range.end;
    }
    out.push_str(&t.text[last..]);
    out
}

/// Whether a slot-less inform template opens `domain`: it names the domain and thanks nobody
/// (some `none;` templates are closings or acknowledgements).
fn opens(text: &str, domain: Domain) -> bool {
    let lower = text.to_lowercase();
    let words: &[&str] = match domain {
        Domain::Restaurant => &["restaurant", "eat", "food", "dine", "dinner", "lunch"],
        Domain::Hotel => &[
            "hotel",
            "stay",
            "lodging",
            "accommodation",
            "accommodations",
        ],
        Domain::Attraction => &[
            "attraction",
            "attractions",
            "visit",
            "sights",
            "entertainment",
        ],
        Domain::Train => &["train"],
        Domain::Taxi => &["taxi", "cab"],
        _ => &[],
    };
    let has = |w: &str| lower.split(|c: char| !c.is_alphanumeric()).any(|x| x == w);
    words.iter().any(|w| has(w))
        && !["thank", "thanks", "bye", "booking", "booked"]
            .iter()
            .any(|w| has(w))
}

fn group_domain(group: &str) -> Option<(Domain, &str)> {
    let (d, act) = group.split_once('-')?;
    Some((Domain::parse(d)?, act))
}

impl<'a> Index<'a> {
    fn new(templates: &'a MultiwozTemplates, noise: &Noise) -> Index<'a> {
        let mut ix = Index {
            inform: BTreeMap::new(),
            open: BTreeMap::new(),
            request: BTreeMap::new(),
            closing: Vec::new(),
            sys_request: BTreeMap::new(),
            sys_offer: BTreeMap::new(),
            sys_inform: BTreeMap::new(),
            sys_booked: BTreeMap::new(),
            sys_reqmore: Vec::new(),
        };
        for t in &templates.user.templates {
            let Some((domain, act)) = group_domain(&t.group) else {
                continue;
            };
            let clean = || noise.clean(&without_placeholders(t), domain);
            match (domain, act) {
                (Domain::General, "thank" | "bye")
                    if t.placeholders.is_empty() && noise.clean(&t.text, Domain::General) =>
                {
                    ix.closing.push(t);
                }
                (d, "Inform") if DST_DOMAINS.contains(&d) => {
                    if t.key_slots.is_empty() {
                        if t.placeholders.is_empty() && clean() && opens(&t.text, d) {
                            ix.open.entry(d).or_default().push(t);
                        }
                        continue;
                    }
                    let allowed: BTreeSet<SlotCode> = search_slots(d)
                        .iter()
                        .chain(book_slots(d))
                        .copied()
                        .chain(has_name(d).then_some(SlotCode::Name))
                        .collect();
                    let key: BTreeSet<SlotCode> = t.key_slots.iter().copied().collect();
                    let mut slots: Vec<SlotCode> = t.placeholders.iter().map(|p| p.slot).collect();
                    slots.sort();
                    let once = slots.windows(2).all(|w| w[0] != w[1]);
                    let same = slots.iter().copied().collect::<BTreeSet<_>>() == key;
                    let own = t
                        .placeholders
                        .iter()
                        .all(|p| p.domain == d && p.act == "INFORM");
                    let mixes_name = key.contains(&SlotCode::Name) && key.len() > 1;
                    if once && same && own && !mixes_name && key.is_subset(&allowed) && clean() {
                        ix.inform.entry(d).or_default().push(t);
                    }
                }
                (d, "Request")
                    if DST_DOMAINS.contains(&d) && t.placeholders.is_empty() && clean() =>
                {
                    ix.request.entry(d).or_default().push(t);
                }
                _ => {}
            }
        }
        for t in &templates.system.templates {
            let Some((domain, act)) = group_domain(&t.group) else {
                continue;
            };
            let names = |d: Domain| {
                t.placeholders
                    .iter()
                    .any(|p| p.domain == d && p.slot == SlotCode::Name)
            };
            match (domain, act) {
                (Domain::General, "reqmore") => ix.sys_reqmore.push(t),
                (Domain::Booking, "Book") => {
                    for d in [Domain::Restaurant, Domain::Hotel] {
                        ix.sys_booked.entry(d).or_default().push(t);
                    }
                }
                (Domain::Train, "OfferBooked") => {
                    ix.sys_booked.entry(Domain::Train).or_default().push(t)
                }
                (d, "Request") if DST_DOMAINS.contains(&d) => {
                    ix.sys_request.entry(d).or_default().push(t)
                }
                (d, "Inform" | "Recommend") if has_name(d) => {
                    if act == "Inform" {
                        ix.sys_inform.entry(d).or_default().push(t);
                    }
                    if names(d) {
                        ix.sys_offer.entry(d).or_default().push(t);
                    }
                }
                (Domain::Train, "Inform" | "OfferBook") => {
                    if act == "Inform" {
                        ix.sys_inform.entry(Domain::Train).or_default().push(t);
                    }
                    if t.placeholders.iter().any(|p| p.slot == SlotCode::Id) {
                        ix.sys_offer.entry(Domain::Train).or_default().push(t);
                    }
                }
                (Domain::Taxi, "Inform") => {
                    ix.sys_inform.entry(Domain::Taxi).or_default().push(t);
                    ix.sys_offer.entry(Domain::Taxi).or_default().push(t);
                }
                _ => {}
            }
        }
        ix
    }
}

/// What a user turn says and changes.
struct UserTurn {
    text: String,
    spans: Vec<SlotSpan>,
    updates: Vec<(String, String)>,
}

struct Generator<'a> {
    relex: &'a Relexicaliser,
    index: Index<'a>,
    config: &'a SyntheticConfig,
    rng: ChaCha8Rng,
}

/// Composes dialogues (see the module docs). Deterministic for a given config.
pub fn generate(
    templates: &MultiwozTemplates,
    config: &SyntheticConfig,
) -> Result<SyntheticDialogues> {
    config.check()?;
    let relex = Relexicaliser::new(templates.database.clone(), config.detokenize);
    let noise = Noise::new(&relex);
    let index = Index::new(templates, &noise);
    for d in DST_DOMAINS {
        if index.inform.get(&d).is_none_or(Vec::is_empty) {
            return Err(Error::NotEnoughData {
                what: format!("clean user inform templates of domain {}", d.name()),
                needed: 1,
                available: 0,
            });
        }
    }
    if index.closing.is_empty() {
        return Err(Error::NotEnoughData {
            what: "clean general-thank/general-bye user templates".into(),
            needed: 1,
            available: 0,
        });
    }
    let mut generator = Generator {
        relex: &relex,
        index,
        config,
        rng: ChaCha8Rng::seed_from_u64(config.seed),
    };
    let mut dialogues = Vec::with_capacity(config.dialogues);
    for i in 0..config.dialogues {
        dialogues.push(generator.dialogue(format!("synthetic-{i:05}"))?);
    }
    Ok(SyntheticDialogues {
        dialogues,
        ontology: ontology(&relex),
    }
    .with_observed_values())
}

impl SyntheticDialogues {
    /// Adds any observed value missing from the ontology's lists (none are expected; kept so the
    /// ontology is complete by construction even if the generator changes).
    fn with_observed_values(mut self) -> Self {
        let observed = Ontology::from_dialogues(&self.dialogues);
        for (slot, info) in observed.slots {
            let entry = self.ontology.slots.entry(slot).or_insert(SlotInfo {
                categorical: info.categorical,
                values: Vec::new(),
            });
            entry.values.extend(info.values);
            entry.values.sort();
            entry.values.dedup();
        }
        self
    }
}

/// Every slot the generator can fill with every value it can draw.
fn ontology(relex: &Relexicaliser) -> Ontology {
    let mut slots = BTreeMap::new();
    for d in DST_DOMAINS {
        let codes = search_slots(d)
            .iter()
            .chain(book_slots(d))
            .copied()
            .chain(has_name(d).then_some(SlotCode::Name));
        for code in codes {
            let Some(slot) = state_slot(d, code, None) else {
                continue;
            };
            let mut values = relex.lexicon().values(d, code).unwrap_or(&[]).to_vec();
            values.sort();
            values.dedup();
            slots.insert(
                slot.clone(),
                SlotInfo {
                    categorical: is_categorical(&slot),
                    values,
                },
            );
        }
    }
    Ontology { slots }
}

impl Generator<'_> {
    fn pick<'t>(&mut self, list: &[&'t Template]) -> Option<&'t Template> {
        list.choose(&mut self.rng).copied()
    }

    /// A target entity of `domain`, with values for every slot the user or system can ask about.
    fn entity(&mut self, domain: Domain) -> Entity {
        let lex = self.relex.lexicon();
        let pool = self.relex.database().entities(domain);
        let mut entity = pool.choose(&mut self.rng).cloned().unwrap_or_default();
        let codes: Vec<SlotCode> = search_slots(domain)
            .iter()
            .chain(book_slots(domain))
            .copied()
            .collect();
        for code in codes {
            if entity.values.contains_key(&code) {
                continue;
            }
            if let Some(v) = lex.sample(domain, code, &mut self.rng) {
                entity.values.insert(code, v);
            }
        }
        if domain == Domain::Taxi {
            // Two different places.
            for _ in 0..16 {
                if entity.values.get(&SlotCode::Depart) != entity.values.get(&SlotCode::Dest) {
                    break;
                }
                if let Some(v) = lex.sample(domain, SlotCode::Dest, &mut self.rng) {
                    entity.values.insert(SlotCode::Dest, v);
                }
            }
        }
        entity
    }

    fn dialogue(&mut self, id: String) -> Result<Dialogue> {
        let c = self.config;
        let n_domains = self.rng.random_range(c.min_domains..=c.max_domains);
        let mut domains = DST_DOMAINS.to_vec();
        domains.shuffle(&mut self.rng);
        domains.truncate(n_domains);
        let mut turns: Vec<Turn> = Vec::new();
        let mut state: BTreeMap<String, String> = BTreeMap::new();
        let mut pending = (String::new(), Vec::new());
        'domains: for (di, &domain) in domains.iter().enumerate() {
            let mut entity = self.entity(domain);
            let plan = self.plan(domain);
            let mut first = true;
            for act in plan {
                if turns.len() + 1 >= c.max_turns {
                    break 'domains;
                }
                let (system, informed) = if first && di > 0 && self.rng.random_bool(0.5) {
                    self.reqmore()?
                } else {
                    pending.clone()
                };
                let Some(user) = self.user_turn(act, domain, &mut entity, &state, &informed)?
                else {
                    continue;
                };
                first = false;
                for (slot, value) in &user.updates {
                    state.insert(slot.clone(), value.clone());
                }
                turns.push(Turn {
                    system,
                    user: user.text,
                    user_spans: user.spans,
                    system_informed: informed,
                    state: state.clone(),
                });
                pending = self.system_turn(act, domain, &entity, &state)?;
            }
        }
        if turns.len() < c.max_turns {
            let list = self.index.closing.clone();
            let closing = self.pick(&list).ok_or_else(|| Error::NotEnoughData {
                what: "closing templates".into(),
                needed: 1,
                available: 0,
            })?;
            let text = self.relex.surface(&closing.text);
            turns.push(Turn {
                system: pending.0,
                user: text,
                user_spans: Vec::new(),
                system_informed: pending.1,
                state: state.clone(),
            });
        }
        Ok(Dialogue { id, turns })
    }

    fn plan(&mut self, domain: Domain) -> Vec<Act> {
        let c = self.config;
        let mut plan = Vec::new();
        if self.rng.random_bool(c.p_open) && self.index.open.contains_key(&domain) {
            plan.push(Act::Open);
        }
        let by_name = has_name(domain) && self.rng.random_bool(c.p_name);
        plan.push(Act::Search { by_name });
        if !by_name && self.rng.random_bool(c.p_second_search) {
            plan.push(Act::Search { by_name: false });
        }
        if !by_name && self.rng.random_bool(c.p_update) {
            plan.push(Act::Update);
        }
        if !book_slots(domain).is_empty() && self.rng.random_bool(c.p_book) {
            plan.push(Act::Book);
        }
        if self.rng.random_bool(c.p_request) {
            plan.push(Act::Request);
        }
        plan
    }

    /// Fills a user template whose every placeholder is fixed to the entity's value.
    fn fill_user(&mut self, template: &Template, entity: &Entity) -> Result<UserTurn> {
        let fixed: FixedValues = template
            .placeholders
            .iter()
            .filter_map(|p| {
                entity
                    .values
                    .get(&p.slot)
                    .map(|v| ((p.domain, p.slot), v.clone()))
            })
            .collect();
        let filled = self.relex.fill(template, &fixed, &mut self.rng)?;
        let mut spans = Vec::new();
        let mut updates = Vec::new();
        for v in filled.values {
            if let Some(slot) = state_slot(v.domain, v.slot, None) {
                updates.push((slot.clone(), v.span.value.clone()));
                spans.push(SlotSpan { slot, ..v.span });
            }
        }
        Ok(UserTurn {
            text: filled.text,
            spans,
            updates,
        })
    }

    fn user_turn(
        &mut self,
        act: Act,
        domain: Domain,
        entity: &mut Entity,
        state: &BTreeMap<String, String>,
        informed: &[(String, String)],
    ) -> Result<Option<UserTurn>> {
        let filled_slot =
            |code: SlotCode| state_slot(domain, code, None).is_some_and(|s| state.contains_key(&s));
        let mut turn = match act {
            Act::Open => {
                let list = self.index.open.get(&domain).cloned().unwrap_or_default();
                match self.pick(&list) {
                    Some(t) => UserTurn {
                        text: self.relex.surface(&t.text),
                        spans: Vec::new(),
                        updates: Vec::new(),
                    },
                    None => return Ok(None),
                }
            }
            Act::Search { by_name } => {
                // Present for every DST domain: `generate` checked it before building dialogues.
                let inform = self.index.inform[&domain].clone();
                let candidates: Vec<&Template> = inform
                    .into_iter()
                    .filter(|t| {
                        if by_name {
                            t.key_slots == [SlotCode::Name] && !filled_slot(SlotCode::Name)
                        } else {
                            t.key_slots
                                .iter()
                                .all(|s| search_slots(domain).contains(s) && !filled_slot(*s))
                        }
                    })
                    .collect();
                match self.pick(&candidates) {
                    Some(t) => self.fill_user(t, entity)?,
                    None => UserTurn {
                        text: String::new(),
                        spans: Vec::new(),
                        updates: Vec::new(),
                    },
                }
            }
            Act::Update => {
                // Present for every DST domain: `generate` checked it before building dialogues.
                let inform = self.index.inform[&domain].clone();
                let candidates: Vec<&Template> = inform
                    .into_iter()
                    .filter(|t| {
                        t.key_slots.iter().all(|s| search_slots(domain).contains(s))
                            && t.key_slots.iter().any(|s| {
                                state_slot(domain, *s, None)
                                    .and_then(|slot| state.get(&slot))
                                    .is_some_and(|v| v != DONTCARE)
                            })
                    })
                    .collect();
                let Some(t) = self.pick(&candidates) else {
                    return Ok(None);
                };
                // A new target whose values differ on every slot the template re-informs.
                let mut found = None;
                for _ in 0..64 {
                    let candidate = self.entity(domain);
                    let differs = t.key_slots.iter().all(|s| {
                        let old = state_slot(domain, *s, None).and_then(|slot| state.get(&slot));
                        old.is_none() || old != candidate.values.get(s)
                    });
                    if differs {
                        found = Some(candidate);
                        break;
                    }
                }
                let Some(mut candidate) = found else {
                    return Ok(None);
                };
                // Keep the booking details already drawn.
                for code in book_slots(domain) {
                    if let Some(v) = entity.values.get(code) {
                        candidate.values.insert(*code, v.clone());
                    }
                }
                *entity = candidate;
                self.fill_user(t, entity)?
            }
            Act::Book => {
                // Present for every DST domain: `generate` checked it before building dialogues.
                let inform = self.index.inform[&domain].clone();
                let candidates: Vec<&Template> = inform
                    .into_iter()
                    .filter(|t| {
                        t.key_slots
                            .iter()
                            .all(|s| book_slots(domain).contains(s) && !filled_slot(*s))
                    })
                    .collect();
                let Some(t) = self.pick(&candidates) else {
                    return Ok(None);
                };
                let mut turn = self.fill_user(t, entity)?;
                self.accept(domain, state, informed, &mut turn);
                turn
            }
            Act::Request => {
                let list = self.index.request.get(&domain).cloned().unwrap_or_default();
                let Some(t) = self.pick(&list) else {
                    return Ok(None);
                };
                let mut turn = UserTurn {
                    text: self.relex.surface(&t.text),
                    spans: Vec::new(),
                    updates: Vec::new(),
                };
                self.accept(domain, state, informed, &mut turn);
                turn
            }
        };
        if matches!(act, Act::Search { by_name: false } | Act::Update)
            && (turn.text.is_empty() || self.rng.random_bool(self.config.p_dontcare))
        {
            let taken: Vec<String> = turn.updates.iter().map(|(s, _)| s.clone()).collect();
            let options: Vec<(String, &[&str])> = dontcare_slots(domain)
                .iter()
                .filter_map(|(code, words)| {
                    let slot = state_slot(domain, *code, None)?;
                    (!state.contains_key(&slot) && !taken.contains(&slot)).then_some((slot, *words))
                })
                .collect();
            if let Some((slot, words)) = options.choose(&mut self.rng).cloned() {
                let pattern = DONTCARE_PHRASES
                    .choose(&mut self.rng)
                    .copied()
                    .unwrap_or("");
                let word = words.choose(&mut self.rng).copied().unwrap_or("");
                let phrase = self.relex.surface(&pattern.replace("{}", word));
                if !turn.text.is_empty() {
                    turn.text.push(' ');
                }
                turn.text.push_str(&phrase);
                turn.updates.push((slot, DONTCARE.to_string()));
            }
        }
        if turn.text.is_empty() {
            return Ok(None);
        }
        Ok(Some(turn))
    }

    /// With `p_accept`, takes over a name the system offered that is not in the state yet.
    fn accept(
        &mut self,
        domain: Domain,
        state: &BTreeMap<String, String>,
        informed: &[(String, String)],
        turn: &mut UserTurn,
    ) {
        let Some(name_slot) = state_slot(domain, SlotCode::Name, None) else {
            return;
        };
        if state.contains_key(&name_slot) {
            return;
        }
        let offered = informed.iter().find(|(s, _)| *s == name_slot);
        if let Some((slot, value)) = offered {
            if self.rng.random_bool(self.config.p_accept) {
                turn.updates.push((slot.clone(), value.clone()));
            }
        }
    }

    fn reqmore(&mut self) -> Result<(String, Vec<(String, String)>)> {
        let list = self.index.sys_reqmore.clone();
        Ok(match self.pick(&list) {
            Some(t) => (self.relex.surface(&t.text), Vec::new()),
            None => (String::new(), Vec::new()),
        })
    }

    /// The system's answer to a user act, and the (slot, value)s it informs.
    fn system_turn(
        &mut self,
        act: Act,
        domain: Domain,
        entity: &Entity,
        state: &BTreeMap<String, String>,
    ) -> Result<(String, Vec<(String, String)>)> {
        fn of<'t>(m: &BTreeMap<Domain, Vec<&'t Template>>, d: Domain) -> Vec<&'t Template> {
            m.get(&d).cloned().unwrap_or_default()
        }
        let get = |m| of(m, domain);
        // Ask only for slots the state does not hold yet.
        let ask: Vec<&Template> = get(&self.index.sys_request)
            .into_iter()
            .filter(|t| {
                !t.key_slots.is_empty()
                    && t.key_slots.iter().all(|code| {
                        search_slots(domain).contains(code)
                            && state_slot(domain, *code, None)
                                .is_some_and(|slot| !state.contains_key(&slot))
                    })
            })
            .collect();
        let offer = get(&self.index.sys_offer);
        let list = match act {
            Act::Open => ask,
            Act::Search { .. } | Act::Update => {
                if !ask.is_empty() && (offer.is_empty() || self.rng.random_bool(0.5)) {
                    ask
                } else {
                    offer
                }
            }
            Act::Book => {
                let booked = get(&self.index.sys_booked);
                if booked.is_empty() {
                    offer
                } else {
                    booked
                }
            }
            Act::Request => get(&self.index.sys_inform),
        };
        let Some(t) = self.pick(&list) else {
            return self.reqmore();
        };
        // The system speaks about the target entity and about what the state already holds.
        let mut fixed = FixedValues::new();
        for (&code, value) in &entity.values {
            fixed.insert((domain, code), value.clone());
            fixed.insert((Domain::Booking, code), value.clone());
        }
        for code in SlotCode::ALL {
            if let Some(v) = state_slot(domain, code, None).and_then(|s| state.get(&s)) {
                if v != DONTCARE {
                    fixed.insert((domain, code), v.clone());
                    fixed.insert((Domain::Booking, code), v.clone());
                }
            }
        }
        let filled = self.relex.fill(t, &fixed, &mut self.rng)?;
        let informed = filled
            .values
            .iter()
            .filter_map(|v| {
                let slot = state_slot(v.domain, v.slot, Some(domain))?;
                Some((slot, v.span.value.clone()))
            })
            .collect();
        Ok((filled.text, informed))
    }
}
