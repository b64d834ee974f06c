//! The list requests: routes and FIB entries a page at a time, so no
//! single answer holds the route owner (and with it BGP) for long.

use sluice_control::{Response, capped};
use sluice_wire::Prefix;

use super::{Core, parse_prefix};
use crate::paging::cursor;

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
        let (routes, next) = crate::routing::show::route_views(
            &r.rib,
            filter.as_ref(),
            after,
            self.config(),
            &self.active(),
            limit,
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
}
