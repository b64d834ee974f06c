//! The `rpki` section: caches to validate with.

use super::*;

pub(super) fn check(config: &Config, out: &mut Vec<Finding>) {
    let Some(rpki) = &config.rpki else {
        return;
    };
    if rpki.caches.is_empty() {
        out.push(
            RPKI_NO_CACHE
                .at(rpki.pos, "`rpki` lists no cache")
                .help("add `caches: [{ address: ADDRESS, port: 323 }]`, or remove the section"),
        );
    }
    for (i, cache) in rpki.caches.iter().enumerate() {
        let same = |c: &&crate::at::At<crate::model::RtrCache>| {
            c.address.value == cache.address.value && c.port.value == cache.port.value
        };
        if let Some(first) = rpki.caches[..i].iter().find(same) {
            out.push(RPKI_DUPLICATE_CACHE.at(
                cache.address.pos,
                format!(
                    "cache {}:{} is listed already (line {})",
                    cache.address.value, cache.port.value, first.address.pos.line
                ),
            ));
        }
    }
}
