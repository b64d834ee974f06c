//! The maintenance section: held drains and the floor of active uplinks.

use super::*;

pub(super) fn check(config: &Config, out: &mut Vec<Finding>) {
    let m = &config.maintenance;
    let mut drained = Vec::new();
    for name in &m.drained {
        if config.uplink(name).is_none() {
            let known: Vec<&str> = config.uplinks.iter().map(|u| u.name.as_str()).collect();
            out.push(
                DRAINED_UNKNOWN_UPLINK
                    .at(name.pos, format!("`{}` is not an uplink", name.value))
                    .help(format!("uplinks: {}", known.join(", "))),
            );
        } else if !drained.contains(&name.as_str()) {
            drained.push(name.as_str());
        }
    }
    let total = u32::try_from(config.uplinks.len()).unwrap_or(u32::MAX);
    let min = m.min_active_uplinks.value;
    if min > total {
        out.push(MIN_ACTIVE_ABOVE_UPLINKS.at(
            m.min_active_uplinks.pos,
            format!("min_active_uplinks is {min}, but there are only {total} uplinks"),
        ));
    } else {
        let active = total - u32::try_from(drained.len()).unwrap_or(u32::MAX).min(total);
        if active < min {
            let pos = m
                .drained
                .first()
                .map_or(m.min_active_uplinks.pos, |d| d.pos);
            out.push(
                MIN_ACTIVE_VIOLATED
                    .at(pos, format!("draining {} leaves {active} active uplink(s), below min_active_uplinks {min}", drained.join(", ")))
                    .help("undrain an uplink or lower maintenance.min_active_uplinks"),
            );
        }
    }
}
