//! The list requests: routes and FIB entries a page at a time, and the RIB
//! dump a part at a time, so no single answer holds the route owner (and
//! with it BGP) for long.

use sluice_control::{Response, capped};
use sluice_whatif::dump::Dumper;
use sluice_wire::Prefix;

use super::{Core, parse_prefix};
use crate::paging::cursor;

/// A RIB dump in progress: the control socket's connection task holds it
/// between parts and hands it to the core for each.
#[derive(Debug, Default)]
pub struct DumpState {
    dumper: Option<Dumper>,
    /// The lines of the last part, to write before asking for the next.
    pub lines: Vec<String>,
    /// Every part is written.
    pub done: bool,
}

/// The prefix asked for and the page's cursor, or the answer saying what
/// is wrong with them.
fn parse_args(
    prefix: Option<&str>,
    after: Option<&str>,
) -> Result<(Option<Prefix>, Option<Prefix>), Box<Response>> {
    if prefix.is_some() && after.is_some() {
        return Err(Box::new(Response::Usage {
            message: "--after pages through the whole table; give it without a PREFIX".into(),
        }));
    }
    let error = |message| Box::new(Response::Error { message });
    let prefix = prefix.map(parse_prefix).transpose().map_err(error)?;
    Ok((prefix, cursor(after).map_err(error)?))
}

impl Core {
    pub(super) fn show_routes(
        &self,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: usize,
        filters: &sluice_control::RouteFilters,
    ) -> Response {
        let (filter, after) = match parse_args(prefix, after) {
            Ok(args) => args,
            Err(answer) => return *answer,
        };
        let Some(r) = self.routing.as_ref() else {
            return Response::Routes {
                routes: vec![],
                total: 0,
                next: None,
            };
        };
        let asn = self.config().router.asn.value;
        let paths = match crate::routing::filter::Filter::new(filters, r.rpki.as_ref(), asn) {
            Ok(f) => f,
            Err(message) => return Response::Usage { message },
        };
        let query = crate::routing::show::Query {
            prefix: filter,
            after,
            limit,
            paths,
        };
        let (routes, next) = crate::routing::show::route_views(
            &r.rib,
            self.config(),
            &self.active(),
            r.rpki.as_ref(),
            query,
        );
        Response::Routes {
            routes,
            total: r.rib.prefixes(),
            next,
        }
    }

    pub(super) fn show_fib(
        &self,
        prefix: Option<&str>,
        after: Option<&str>,
        limit: usize,
        maps: bool,
    ) -> Response {
        let (filter, after) = match parse_args(prefix, after) {
            Ok(args) => args,
            Err(answer) => return *answer,
        };
        Response::Fib(
            self.fib()
                .map(|f| f.show(filter.as_ref(), after, capped(limit), maps))
                .unwrap_or_default(),
        )
    }

    /// The next lines of a RIB dump: the header and the first part, then
    /// a part per call, until `done`.
    pub fn dump_part(&self, state: &mut DumpState) {
        let config = &self.active.checked.loaded.config;
        let empty = sluice_rib::Rib::default();
        let rib = self.routing.as_ref().map_or(&empty, |r| &r.rib);
        let dumper = match &mut state.dumper {
            Some(d) => d,
            None => {
                let name = |u: usize| config.uplinks.get(u).map(|x| x.name.value.clone());
                let (d, header) = Dumper::new(rib, name);
                state.lines.push(header);
                state.dumper.insert(d)
            }
        };
        match dumper.next_part(rib) {
            Some(lines) => state.lines.extend(lines),
            None => state.done = true,
        }
    }
}
