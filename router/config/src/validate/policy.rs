//! Route policies and prefix lists: every name resolves, every entry parses.

use super::*;
use crate::at::At;
use crate::prefix_list::PrefixListEntry;
use crate::values::PolicyRef;

pub(super) fn check(config: &Config, out: &mut Vec<Finding>) {
    let policies = &config.policies;
    for (name, terms) in &policies.route_policies {
        if PolicyRef::BUILTIN.contains(&name.as_str()) {
            out.push(
                POLICY_SHADOWS_BUILTIN
                    .at(
                        terms.pos,
                        format!("route policy `{name}` has the name of a built-in policy"),
                    )
                    .help("rename it"),
            );
        }
        for term in terms.iter() {
            check_match(name, &term.matches, policies, &config.rpki.is_some(), out);
        }
    }
    for (name, entries) in &policies.prefix_lists {
        for entry in entries.iter() {
            if let Err(why) = entry.parse::<PrefixListEntry>() {
                out.push(
                    PREFIX_LIST_MALFORMED.at(entry.pos, format!("prefix list `{name}`: {why}")),
                );
            }
        }
    }

    let refs = config
        .uplinks
        .iter()
        .flat_map(|u| {
            [&u.import, &u.export]
                .into_iter()
                .map(move |r| (r, Some(u.name.as_str())))
        })
        .chain(
            config
                .neighbors
                .iter()
                .flat_map(|n| [(&n.import, None), (&n.export, None)]),
        );
    for (reference, uplink) in refs {
        let Some(At {
            value: PolicyRef::Named(name),
            pos,
        }) = reference
        else {
            continue;
        };
        if !policies.route_policies.contains_key(name) {
            let mut f = POLICY_UNKNOWN
                .at(*pos, format!("policy `{name}` is not defined"))
                .help(format!(
                    "use {} or {}",
                    PolicyRef::BUILTIN.join(", "),
                    defined("route policies", policies.route_policies.keys())
                ));
            if let Some(u) = uplink {
                f = f.uplink(u);
            }
            out.push(f);
        }
    }
}

/// Prefix lists exist and AS-path patterns compile, nested matches too.
fn check_match(
    name: &str,
    m: &crate::model::Match,
    policies: &crate::model::Policies,
    rpki_on: &bool,
    out: &mut Vec<Finding>,
) {
    if let Some(list) = &m.prefix_list
        && !policies.prefix_lists.contains_key(list.as_str())
    {
        out.push(
            PREFIX_LIST_UNKNOWN
                .at(
                    list.pos,
                    format!(
                        "route policy `{name}` matches prefix list `{}`, which is not defined",
                        list.value
                    ),
                )
                .help(defined("prefix lists", policies.prefix_lists.keys())),
        );
    }
    if let Some(p) = &m.as_path {
        match crate::values::as_path_regex(p) {
            Err(why) => {
                out.push(POLICY_AS_PATH.at(p.pos, format!("route policy `{name}`: as_path {why}")))
            }
            // A path is digits, spaces, braces and commas: a pattern
            // that no such text matches matches no route.
            Ok(re) if !could_match(&re) => out.push(
                POLICY_AS_PATH
                    .at(
                        p.pos,
                        format!(
                            "route policy `{name}`: as_path `{}` matches no AS path",
                            p.value
                        ),
                    )
                    .help(
                        "an AS path is written `65001 65002 {7,8}`: ASNs, spaces, braces, commas",
                    ),
            ),
            Ok(_) => {}
        }
    }
    if let Some(state) = &m.rpki
        && !*rpki_on
    {
        out.push(
            POLICY_RPKI_OFF
                .at(state.pos, format!("route policy `{name}` matches rpki, but there is no `rpki` section: every route is unknown"))
                .help("add an `rpki` section with a cache"),
        );
    }
    for n in m.all.iter().chain(&m.any) {
        check_match(name, n, policies, rpki_on, out);
    }
}

/// Whether `re` can match some AS path, a text of digits, spaces, braces
/// and commas (`65001 65002 {7,8}`, or nothing for a local route): a
/// search from the start over the automaton of `re`, taking only those
/// characters, for a state that matches. A pattern naming a letter
/// (`AS65001`) or a class of them (`[a-z]+`) finds none. An automaton too
/// big to build is taken to match: the check only reports what it proves.
fn could_match(re: &regex::Regex) -> bool {
    use regex_automata::dfa::{Automaton, dense};
    use regex_automata::{Input, util::syntax};

    const PATH_BYTES: &[u8] = b"0123456789 ,{}";
    const LIMIT: usize = 1 << 20;
    let dfa = dense::Builder::new()
        .configure(
            dense::Config::new()
                .dfa_size_limit(Some(LIMIT))
                .determinize_size_limit(Some(LIMIT)),
        )
        .syntax(syntax::Config::new().unicode(false).utf8(false))
        .build(re.as_str());
    let Ok(dfa) = dfa else { return true };
    let Ok(start) = dfa.start_state_forward(&Input::new("")) else {
        return true;
    };
    let mut seen = std::collections::HashSet::from([start]);
    let mut todo = vec![start];
    while let Some(s) = todo.pop() {
        let matches = dfa.is_match_state(s) || dfa.is_match_state(dfa.next_eoi_state(s));
        if matches || dfa.is_quit_state(s) {
            return true;
        }
        for &b in PATH_BYTES {
            let next = dfa.next_state(s, b);
            if !dfa.is_dead_state(next) && seen.insert(next) {
                todo.push(next);
            }
        }
    }
    false
}

fn defined<'a>(what: &str, names: impl Iterator<Item = &'a String>) -> String {
    let names: Vec<&str> = names.map(String::as_str).collect();
    if names.is_empty() {
        format!("no {what} are defined")
    } else {
        format!("defined {what}: {}", names.join(", "))
    }
}

#[cfg(test)]
mod tests {
    use super::could_match;
    use crate::values::as_path_regex;

    #[test]
    fn a_pattern_matches_some_path_unless_it_needs_what_no_path_has() {
        for p in [
            "_3356_",
            "^65001_",
            "^$",
            "_[0-9]+$",
            "\\{7,8\\}",
            ".*",
            "65001 3356",
            "^(65001_)+$",
            "\\d{5}",
        ] {
            assert!(could_match(&as_path_regex(p).unwrap()), "{p} matches");
        }
        for p in [
            "^AS65001",
            "[a-z]+",
            "65001\\.3356",
            "_3356_x?y",
            "^65001$x",
            "65001_[^0-9 ,{}]",
        ] {
            assert!(
                !could_match(&as_path_regex(p).unwrap()),
                "{p} matches nothing"
            );
        }
    }
}
