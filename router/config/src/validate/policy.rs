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
            Ok(re) if !could_match(&re, p) => out.push(
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

/// Whether `re` can match some AS path: a pattern naming a letter (say,
/// `AS65001` or `^as`) never does. Checked on the literal characters of
/// the pattern, outside classes and escapes.
fn could_match(_re: &regex::Regex, pattern: &str) -> bool {
    let mut escaped = false;
    let mut class = 0usize;
    for c in pattern.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '[' => class += 1,
            ']' => class = class.saturating_sub(1),
            c if class == 0 && c.is_ascii_alphabetic() => return false,
            _ => {}
        }
    }
    true
}

fn defined<'a>(what: &str, names: impl Iterator<Item = &'a String>) -> String {
    let names: Vec<&str> = names.map(String::as_str).collect();
    if names.is_empty() {
        format!("no {what} are defined")
    } else {
        format!("defined {what}: {}", names.join(", "))
    }
}
