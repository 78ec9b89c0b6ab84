//! First triage rules: keyword stems in Kazakh, Russian and English mapped to a category, the
//! skills the category needs and a priority. Operator-set values always win.

use crate::{Category, Priority, Skill};

/// Identifies this rule set in every decision, so a decision can be replayed with its rules.
pub const RULES_VERSION: &str = "keywords-1";

/// Stems looked for in the lower-cased note, per category. Stems, not words, so that Russian
/// and Kazakh endings (көмір/көмірді, уголь/угля) match without a full stemmer.
const CATEGORY_STEMS: &[(Category, &[&str])] = &[
    (
        Category::SearchOperation,
        &[
            "пропал",
            "пропа",
            "потерял",
            "не вернул",
            "ищем",
            "поиск",
            "жоғал",
            "іздеу",
            "іздест",
            "missing",
            "lost",
            "search",
        ],
    ),
    (
        Category::FuelDelivery,
        &[
            "угол",
            "угл",
            "уголь",
            "дров",
            "топлив",
            "отоплен",
            "көмір",
            "отын",
            "coal",
            "firewood",
            "fuel",
        ],
    ),
    (
        Category::VeteranAid,
        &[
            "ветеран",
            "ардагер",
            "veteran",
            "одинок",
            "жалғыз",
            "lonely",
        ],
    ),
    (
        Category::PsychologicalSupport,
        &[
            "психолог",
            "депресс",
            "суицид",
            "тревог",
            "паник",
            "күйзел",
            "psycholog",
            "depress",
            "anxiety",
            "suicid",
        ],
    ),
    (
        Category::MaterialAid,
        &[
            "продукт",
            "одежд",
            "лекарств",
            "азық",
            "киім",
            "дәрі",
            "food",
            "clothes",
            "medicine",
        ],
    ),
    (
        Category::EmergencyHq,
        &[
            "паводок",
            "наводнен",
            "пожар",
            "су тасқын",
            "өрт",
            "flood",
            "wildfire",
            "fire",
        ],
    ),
    (
        Category::Consultation,
        &[
            "консульт",
            "пособи",
            "юрист",
            "кеңес",
            "жәрдемақы",
            "advice",
            "benefit",
            "lawyer",
        ],
    ),
];

/// Words that make any request critical: a child or an elderly person in danger, life at risk,
/// cold without heating.
const CRITICAL_STEMS: &[&str] = &[
    "ребен",
    "ребён",
    "дет",
    "бала",
    "child",
    "kid",
    "пожил",
    "бабушк",
    "дедушк",
    "қарт",
    "elderly",
    "угроз",
    "жизн",
    "өмір",
    "life",
    "замерза",
    "без отоплен",
    "тоңып",
    "freezing",
];

/// The skills a category needs from a group.
pub fn skills_for(category: Category) -> Vec<Skill> {
    match category {
        Category::SearchOperation => vec![Skill::SearchRescue],
        Category::FuelDelivery => vec![Skill::VehicleCargo],
        Category::VeteranAid => vec![Skill::SocialCare],
        Category::PsychologicalSupport => vec![Skill::Psychologist],
        Category::MaterialAid | Category::EmergencyHq => vec![Skill::GeneralLabour],
        Category::Consultation => vec![Skill::LegalAdvice],
        Category::Other => Vec::new(),
    }
}

/// The default priority of a category when nothing critical is said.
fn base_priority(category: Category) -> Priority {
    match category {
        Category::SearchOperation | Category::EmergencyHq => Priority::High,
        Category::Consultation | Category::Other => Priority::Low,
        _ => Priority::Normal,
    }
}

/// What the operator typed and set.
#[derive(Debug, Clone, Default)]
pub struct Input<'a> {
    pub description: &'a str,
    pub operator_category: Option<Category>,
    pub operator_priority: Option<Priority>,
}

/// One rule that contributed to a decision.
#[derive(Debug, Clone, PartialEq)]
pub struct FiredRule {
    pub rule_id: String,
    pub matched_terms: Vec<String>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub category: Category,
    pub priority: Priority,
    pub required_skills: Vec<Skill>,
    /// 0..1; 1 when the operator set the category.
    pub confidence: f64,
    pub fired_rules: Vec<FiredRule>,
}

/// Classifies a call note.
pub fn classify(input: &Input<'_>) -> Decision {
    let text = input.description.to_lowercase().replace('ё', "е");
    let mut fired = Vec::new();

    let (category, confidence) = if let Some(category) = input.operator_category {
        fired.push(FiredRule {
            rule_id: "operator.category".into(),
            matched_terms: vec![],
        });
        (category, 1.0)
    } else {
        let mut best: Option<(Category, Vec<String>)> = None;
        for (category, stems) in CATEGORY_STEMS {
            let hits: Vec<String> = stems
                .iter()
                .filter(|s| text.contains(*s))
                .map(|s| s.to_string())
                .collect();
            // The first category in table order wins ties: a missing person outranks the rest.
            if !hits.is_empty() && best.as_ref().is_none_or(|(_, b)| hits.len() > b.len()) {
                best = Some((*category, hits));
            }
        }
        match best {
            Some((category, hits)) => {
                let confidence = (0.5 + 0.2 * hits.len() as f64).min(0.95);
                fired.push(FiredRule {
                    rule_id: format!("keywords.{category}"),
                    matched_terms: hits,
                });
                (category, confidence)
            }
            None => (Category::Other, 0.2),
        }
    };

    let priority = if let Some(priority) = input.operator_priority {
        fired.push(FiredRule {
            rule_id: "operator.priority".into(),
            matched_terms: vec![],
        });
        priority
    } else {
        let hits: Vec<String> = CRITICAL_STEMS
            .iter()
            .filter(|s| text.contains(*s))
            .map(|s| s.to_string())
            .collect();
        let life_at_risk = matches!(category, Category::SearchOperation | Category::FuelDelivery);
        if life_at_risk && !hits.is_empty() {
            fired.push(FiredRule {
                rule_id: "priority.critical".into(),
                matched_terms: hits,
            });
            Priority::Critical
        } else {
            base_priority(category)
        }
    };

    Decision {
        category,
        priority,
        required_skills: skills_for(category),
        confidence,
        fired_rules: fired,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn note(description: &str) -> Decision {
        classify(&Input {
            description,
            ..Default::default()
        })
    }

    #[test]
    fn missing_child_is_a_critical_search() {
        let d = note("Пропал ребенок 7 лет, ушёл из дома вечером");
        assert_eq!(d.category, Category::SearchOperation);
        assert_eq!(d.priority, Priority::Critical);
        assert_eq!(d.required_skills, vec![Skill::SearchRescue]);
    }

    #[test]
    fn kazakh_coal_request_needs_a_vehicle() {
        let d = note("Зейнеткерге көмір керек, қыс алдында");
        assert_eq!(d.category, Category::FuelDelivery);
        assert_eq!(d.required_skills, vec![Skill::VehicleCargo]);
    }

    #[test]
    fn operator_values_win() {
        let d = classify(&Input {
            description: "Пропал ребенок",
            operator_category: Some(Category::Consultation),
            operator_priority: Some(Priority::Low),
        });
        assert_eq!(d.category, Category::Consultation);
        assert_eq!(d.priority, Priority::Low);
        assert_eq!(d.confidence, 1.0);
    }

    #[test]
    fn unknown_text_is_other_with_low_confidence() {
        let d = note("hello");
        assert_eq!(d.category, Category::Other);
        assert!(d.confidence < 0.5);
    }
}
