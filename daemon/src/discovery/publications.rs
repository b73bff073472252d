//! What one discovery client publishes, as a plain value: this node's affiliate, the affiliates it
//! publishes on behalf of external peers, and the endpoints it harvested for peers — what was
//! pushed in this session, when each refresh is due, what the service may still hold.
//! [`Publications::next`] says which calls are due, [`Publications::record`] takes their outcomes.
//! No I/O and no clock (the caller passes the time), so the publishing rules are table-tested
//! here, and the session in [`super::client`] only performs the calls and reacts to the watch.
//!
//! The rules (see the client's module doc for why):
//! - this node's affiliate is pushed at the start of every session, when it changes, and when its
//!   refresh is due; one that cannot be sealed is not retried until it changes or its refresh;
//! - a withdrawal says the affiliate's last word (marked leaving), then deletes it, once per
//!   session;
//! - an extra is pushed likewise; one no longer asked for is deleted (after its last word), also
//!   in a later session: the service may hold it until then;
//! - harvested endpoints are pushed when they change and when their refresh is due, never for
//!   this node's own id; a refusal is offered again after [`HARVEST_RETRY`]; they are never
//!   deleted (that would delete the peer's whole affiliate).

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;

use tokio::time::Instant;
use weft_api::resources::cluster::AffiliateSpec;

use super::client::{
    Announcement, Extras, HARVEST_RETRY, Harvested, MAX_HARVESTED_PEERS, REFRESH_INTERVAL,
};

/// Whose affiliate a call is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Whose {
    /// This node's.
    Own,
    /// An external peer's, published by this node, by affiliate id.
    Extra(String),
}

/// One call to make to the service.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Call {
    /// AffiliateUpdate with the sealed affiliate.
    Publish(Whose, AffiliateSpec),
    /// AffiliateUpdate with the affiliate sealed as leaving: its last word before a deliberate
    /// delete, so peers drop it at once instead of holding it for its grace.
    SayLeaving(Whose, AffiliateSpec),
    /// AffiliateDelete.
    Delete(Whose),
    /// Endpoint-only AffiliateUpdate for a peer's affiliate (by its id), merged by the service.
    Endpoints(String, BTreeSet<SocketAddr>),
}

/// How a call ended, as far as the publishing rules care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Done,
    /// The affiliate could not be sealed (too large, invalid): not a connection problem.
    Unsealable,
    /// The service refused it as invalid or over a limit (InvalidArgument, ResourceExhausted).
    Refused,
    /// Any other failure: timeout, transport, another status.
    Failed,
}

/// What an outcome means for the session.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recorded {
    /// Done: go on with the next call.
    Done,
    /// Not published, and not tried again until it changes or its refresh is due (retrying the
    /// same data cannot help); the session goes on.
    Skipped,
    /// Refused, offered again after [`HARVEST_RETRY`]; the session goes on.
    Deferred,
    /// The session cannot go on: reconnect.
    Fatal,
}

/// What the client is asked to publish now.
#[derive(Debug, Clone, Copy)]
pub struct Wanted<'a> {
    pub announcement: &'a Announcement,
    pub extras: &'a Extras,
    pub harvested: &'a Harvested,
}

/// What one session pushed; a new session starts from nothing, so everything is pushed again.
#[derive(Debug, Default)]
struct Session {
    /// This node's affiliate as last pushed (or tried), and when its refresh is due.
    own: Option<(AffiliateSpec, Instant)>,
    /// This node's affiliate was deleted in this session.
    withdrawn: bool,
    /// This node's affiliate was pushed successfully in this session.
    refreshed: bool,
    /// Extras pushed (or tried), and when their refresh is due.
    extras: BTreeMap<String, (AffiliateSpec, Instant)>,
    /// Harvested endpoints pushed (or refused), and when they are due again.
    harvested: BTreeMap<String, (BTreeSet<SocketAddr>, Instant)>,
}

/// See the module doc.
#[derive(Debug)]
pub struct Publications {
    node_id: String,
    session: Session,
    /// Extras the service may hold: pushed, and not deleted since. Kept across sessions so one
    /// removed while disconnected is deleted after the reconnect.
    held: BTreeMap<String, AffiliateSpec>,
    /// This node's affiliate as last published, sealed again as its last word on a leave.
    last_announced: Option<AffiliateSpec>,
}

impl Publications {
    /// Nothing published yet, for the node `node_id`.
    pub fn new(node_id: &str) -> Publications {
        Publications {
            node_id: node_id.to_owned(),
            session: Session::default(),
            held: BTreeMap::new(),
            last_announced: None,
        }
    }

    /// A new connection: the service may have lost or expired anything, so all is pushed again.
    pub fn new_session(&mut self) {
        self.session = Session::default();
    }

    /// The calls due at `now` for what is `wanted`, in order. The caller performs them in order,
    /// records each outcome, and stops at the first [`Recorded::Fatal`].
    pub fn next(&mut self, now: Instant, wanted: Wanted<'_>) -> Vec<Call> {
        let mut calls = Vec::new();
        let session = &mut self.session;
        match wanted.announcement {
            Announcement::Announce(spec) => {
                let due = session
                    .own
                    .as_ref()
                    .is_none_or(|(last, refresh)| last != &**spec || now >= *refresh);
                if due {
                    calls.push(Call::Publish(Whose::Own, (**spec).clone()));
                }
            }
            Announcement::Withdraw => {
                if !session.withdrawn {
                    if let Some(spec) = &self.last_announced {
                        calls.push(Call::SayLeaving(Whose::Own, spec.clone()));
                    }
                    calls.push(Call::Delete(Whose::Own));
                }
            }
            Announcement::Nothing => session.own = None,
        }

        for (id, spec) in wanted.extras {
            let due = session
                .extras
                .get(id)
                .is_none_or(|(last, refresh)| last != spec || now >= *refresh);
            if due {
                calls.push(Call::Publish(Whose::Extra(id.clone()), spec.clone()));
            }
        }
        session
            .extras
            .retain(|id, _| wanted.extras.contains_key(id));
        for (id, spec) in &self.held {
            if !wanted.extras.contains_key(id) {
                // Removed on purpose: say so, so peers drop it now rather than after its grace.
                calls.push(Call::SayLeaving(Whose::Extra(id.clone()), spec.clone()));
                calls.push(Call::Delete(Whose::Extra(id.clone())));
            }
        }

        let harvested = wanted
            .harvested
            .iter()
            .filter(|(id, endpoints)| **id != self.node_id && !endpoints.is_empty())
            .take(MAX_HARVESTED_PEERS);
        for (id, endpoints) in harvested {
            let due = session
                .harvested
                .get(id)
                .is_none_or(|(last, again)| last != endpoints || now >= *again);
            if due {
                calls.push(Call::Endpoints(id.clone(), endpoints.clone()));
            }
        }
        session
            .harvested
            .retain(|id, _| wanted.harvested.contains_key(id));
        calls
    }

    /// Takes the outcome of `call`, made at `now`, and says what it means for the session.
    pub fn record(&mut self, call: &Call, outcome: Outcome, now: Instant) -> Recorded {
        let session = &mut self.session;
        let refresh = now + REFRESH_INTERVAL;
        match (call, outcome) {
            (Call::Publish(whose, spec), Outcome::Done | Outcome::Unsealable) => {
                let done = outcome == Outcome::Done;
                match whose {
                    Whose::Own => {
                        session.own = Some((spec.clone(), refresh));
                        if done {
                            session.refreshed = true;
                            self.last_announced = Some(spec.clone());
                        }
                    }
                    Whose::Extra(id) => {
                        session.extras.insert(id.clone(), (spec.clone(), refresh));
                        if done {
                            self.held.insert(id.clone(), spec.clone());
                        }
                    }
                }
                if done {
                    Recorded::Done
                } else {
                    Recorded::Skipped
                }
            }
            (Call::SayLeaving(..), Outcome::Done) => Recorded::Done,
            (Call::Delete(Whose::Own), Outcome::Done) => {
                session.withdrawn = true;
                session.own = None;
                Recorded::Done
            }
            (Call::Delete(Whose::Extra(id)), Outcome::Done) => {
                self.held.remove(id);
                Recorded::Done
            }
            (Call::Endpoints(id, endpoints), Outcome::Done) => {
                session
                    .harvested
                    .insert(id.clone(), (endpoints.clone(), refresh));
                Recorded::Done
            }
            // A nice-to-have the service refused (the peer's affiliate is at its endpoint limit,
            // or this client is rate limited): the session goes on, offered again later.
            (Call::Endpoints(id, endpoints), Outcome::Refused) => {
                session
                    .harvested
                    .insert(id.clone(), (endpoints.clone(), now + HARVEST_RETRY));
                Recorded::Deferred
            }
            _ => Recorded::Fatal,
        }
    }

    /// When the next refresh is due, if anything is published.
    pub fn next_due(&self) -> Option<Instant> {
        let session = &self.session;
        session
            .own
            .iter()
            .map(|(_, due)| *due)
            .chain(session.extras.values().map(|(_, due)| *due))
            .chain(session.harvested.values().map(|(_, due)| *due))
            .min()
    }

    /// This node's affiliate was pushed successfully in this session.
    pub fn refreshed(&self) -> bool {
        self.session.refreshed
    }

    /// The watch says this node's affiliate is gone from the service: when it is announced, push
    /// it again at the next [`Publications::next`] rather than at its refresh. Returns whether it
    /// will be.
    pub fn own_gone(&mut self, announcement: &Announcement) -> bool {
        let announced = matches!(announcement, Announcement::Announce(_));
        announced && self.session.own.take().is_some()
    }

    /// The deletes a retiring client makes: this node's affiliate if the service holds it
    /// (`announced`), and every extra it may hold.
    pub fn goodbye(&self, announced: bool) -> Vec<Call> {
        let own = announced.then_some(Call::Delete(Whose::Own));
        let extras = self
            .held
            .keys()
            .map(|id| Call::Delete(Whose::Extra(id.clone())));
        own.into_iter().chain(extras).collect()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    const NODE: &str = "a";

    fn spec(node: &str, n: u8) -> AffiliateSpec {
        AffiliateSpec {
            node_id: node.to_owned(),
            hostname: format!("{node}-{n}"),
            ..AffiliateSpec::default()
        }
    }

    fn endpoints(port: u16) -> BTreeSet<SocketAddr> {
        BTreeSet::from([SocketAddr::from(([203, 0, 113, 9], port))])
    }

    /// What is asked for at one step of a table.
    #[derive(Clone, Default)]
    struct Ask {
        announcement: Announcement,
        extras: Extras,
        harvested: Harvested,
    }

    fn announce(n: u8) -> Ask {
        Ask {
            announcement: Announcement::Announce(Box::new(spec(NODE, n))),
            ..Ask::default()
        }
    }

    fn withdraw() -> Ask {
        Ask {
            announcement: Announcement::Withdraw,
            ..Ask::default()
        }
    }

    fn extras(ids: &[(&str, u8)]) -> Ask {
        Ask {
            extras: ids
                .iter()
                .map(|(id, n)| ((*id).to_owned(), spec(id, *n)))
                .collect(),
            ..Ask::default()
        }
    }

    fn harvested(peers: &[(&str, u16)]) -> Ask {
        Ask {
            harvested: peers
                .iter()
                .map(|(id, port)| ((*id).to_owned(), endpoints(*port)))
                .collect(),
            ..Ask::default()
        }
    }

    /// A call, short: `publish a`, `leaving x`, `delete x`, `endpoints p`.
    fn show(call: &Call) -> String {
        let id = |whose: &Whose| match whose {
            Whose::Own => NODE.to_owned(),
            Whose::Extra(id) => id.clone(),
        };
        match call {
            Call::Publish(whose, _) => format!("publish {}", id(whose)),
            Call::SayLeaving(whose, _) => format!("leaving {}", id(whose)),
            Call::Delete(whose) => format!("delete {}", id(whose)),
            Call::Endpoints(id, _) => format!("endpoints {id}"),
        }
    }

    /// One step: at `at` seconds (after a reconnect when `reconnect`), with `ask`, the calls due
    /// are `calls`, each answered `outcome`.
    struct Step {
        at: u64,
        reconnect: bool,
        ask: Ask,
        outcome: Outcome,
        calls: &'static [&'static str],
    }

    fn at(at: u64, ask: Ask, calls: &'static [&'static str]) -> Step {
        Step {
            at,
            reconnect: false,
            ask,
            outcome: Outcome::Done,
            calls,
        }
    }

    /// Plays `steps` against one value, step times counted from `start`; returns it for further
    /// checks.
    fn play(name: &str, start: Instant, steps: Vec<Step>) -> Publications {
        let mut p = Publications::new(NODE);
        for (i, step) in steps.into_iter().enumerate() {
            if step.reconnect {
                p.new_session();
            }
            let now = start + Duration::from_secs(step.at);
            let ask = Wanted {
                announcement: &step.ask.announcement,
                extras: &step.ask.extras,
                harvested: &step.ask.harvested,
            };
            let calls = p.next(now, ask);
            let shown: Vec<String> = calls.iter().map(show).collect();
            assert_eq!(shown, step.calls, "{name}, step {i} (at {} s)", step.at);
            for call in &calls {
                if p.record(call, step.outcome, now) == Recorded::Fatal {
                    break;
                }
            }
        }
        p
    }

    const REFRESH: u64 = REFRESH_INTERVAL.as_secs();
    const RETRY: u64 = HARVEST_RETRY.as_secs();

    #[test]
    fn what_is_due_when() {
        let cases: Vec<(&str, Vec<Step>)> = vec![
            (
                "own: at the start, on a change and on its refresh, not in between",
                vec![
                    at(0, announce(1), &["publish a"]),
                    at(1, announce(1), &[]),
                    at(2, announce(2), &["publish a"]),
                    at(REFRESH + 1, announce(2), &[]),
                    at(REFRESH + 2, announce(2), &["publish a"]),
                ],
            ),
            (
                "own: a reconnect pushes again",
                vec![
                    at(0, announce(1), &["publish a"]),
                    Step {
                        reconnect: true,
                        ..at(1, announce(1), &["publish a"])
                    },
                ],
            ),
            (
                "own: unsealable waits for a change or the refresh",
                vec![
                    Step {
                        outcome: Outcome::Unsealable,
                        ..at(0, announce(1), &["publish a"])
                    },
                    at(1, announce(1), &[]),
                    at(2, announce(2), &["publish a"]),
                ],
            ),
            (
                "own: a failed push is tried again",
                vec![
                    Step {
                        outcome: Outcome::Failed,
                        ..at(0, announce(1), &["publish a"])
                    },
                    Step {
                        reconnect: true,
                        ..at(1, announce(1), &["publish a"])
                    },
                ],
            ),
            (
                "own: nothing announced, nothing pushed; announcing again pushes at once",
                vec![
                    at(0, announce(1), &["publish a"]),
                    at(1, Ask::default(), &[]),
                    at(2, announce(1), &["publish a"]),
                ],
            ),
            (
                "withdraw: last word and delete, once a session, again after a reconnect",
                vec![
                    at(0, announce(1), &["publish a"]),
                    at(1, withdraw(), &["leaving a", "delete a"]),
                    at(REFRESH * 2, withdraw(), &[]),
                    Step {
                        reconnect: true,
                        ..at(REFRESH * 2, withdraw(), &["leaving a", "delete a"])
                    },
                ],
            ),
            (
                "withdraw: never announced, nothing to say before the delete",
                vec![at(0, withdraw(), &["delete a"])],
            ),
            (
                "withdraw: a failed last word is said again, and the delete waits for it",
                vec![
                    at(0, announce(1), &["publish a"]),
                    Step {
                        outcome: Outcome::Failed,
                        ..at(1, withdraw(), &["leaving a", "delete a"])
                    },
                    Step {
                        reconnect: true,
                        ..at(2, withdraw(), &["leaving a", "delete a"])
                    },
                ],
            ),
            (
                "extras: pushed, refreshed, deleted with a last word once no longer asked for",
                vec![
                    at(
                        0,
                        extras(&[("x", 1), ("y", 1)]),
                        &["publish x", "publish y"],
                    ),
                    at(1, extras(&[("x", 1), ("y", 2)]), &["publish y"]),
                    at(
                        REFRESH + 1,
                        extras(&[("x", 1), ("y", 2)]),
                        &["publish x", "publish y"],
                    ),
                    at(REFRESH + 2, extras(&[("y", 2)]), &["leaving x", "delete x"]),
                    at(REFRESH + 3, extras(&[("y", 2)]), &[]),
                ],
            ),
            (
                "extras: removed while disconnected, deleted after the reconnect",
                vec![
                    at(0, extras(&[("x", 1)]), &["publish x"]),
                    Step {
                        reconnect: true,
                        ..at(5, Ask::default(), &["leaving x", "delete x"])
                    },
                    at(6, Ask::default(), &[]),
                ],
            ),
            (
                "extras: one never stored is not deleted",
                vec![
                    Step {
                        outcome: Outcome::Unsealable,
                        ..at(0, extras(&[("x", 1)]), &["publish x"])
                    },
                    at(1, extras(&[("x", 1)]), &[]),
                    at(2, Ask::default(), &[]),
                ],
            ),
            (
                "harvested: pushed on change and refresh, never for this node, never deleted",
                vec![
                    at(0, harvested(&[("p", 1), (NODE, 2)]), &["endpoints p"]),
                    at(1, harvested(&[("p", 1)]), &[]),
                    at(2, harvested(&[("p", 3)]), &["endpoints p"]),
                    at(REFRESH + 2, harvested(&[("p", 3)]), &["endpoints p"]),
                    at(REFRESH + 3, Ask::default(), &[]),
                    at(REFRESH + 4, harvested(&[("p", 3)]), &["endpoints p"]),
                ],
            ),
            (
                "harvested: refused, offered again after the retry delay",
                vec![
                    Step {
                        outcome: Outcome::Refused,
                        ..at(0, harvested(&[("p", 1)]), &["endpoints p"])
                    },
                    at(RETRY - 1, harvested(&[("p", 1)]), &[]),
                    at(RETRY, harvested(&[("p", 1)]), &["endpoints p"]),
                ],
            ),
            (
                "all three, in order: own, extras, their deletes, endpoints",
                vec![
                    at(
                        0,
                        Ask {
                            extras: extras(&[("x", 1)]).extras,
                            harvested: harvested(&[("p", 1)]).harvested,
                            ..announce(1)
                        },
                        &["publish a", "publish x", "endpoints p"],
                    ),
                    at(
                        1,
                        Ask {
                            extras: extras(&[("y", 1)]).extras,
                            harvested: harvested(&[("p", 2)]).harvested,
                            ..withdraw()
                        },
                        &[
                            "leaving a",
                            "delete a",
                            "publish y",
                            "leaving x",
                            "delete x",
                            "endpoints p",
                        ],
                    ),
                ],
            ),
        ];
        for (name, steps) in cases {
            play(name, Instant::now(), steps);
        }
    }

    #[test]
    fn outcomes_and_what_they_mean() {
        let own = Call::Publish(Whose::Own, spec(NODE, 1));
        let extra = Call::Publish(Whose::Extra("x".into()), spec("x", 1));
        let leaving = Call::SayLeaving(Whose::Own, spec(NODE, 1));
        let delete = Call::Delete(Whose::Extra("x".into()));
        let endpoints = Call::Endpoints("p".into(), endpoints(1));
        use Outcome::{Done, Failed, Refused, Unsealable};
        let cases = [
            (&own, Done, Recorded::Done),
            (&own, Unsealable, Recorded::Skipped),
            (&own, Refused, Recorded::Fatal),
            (&own, Failed, Recorded::Fatal),
            (&extra, Unsealable, Recorded::Skipped),
            (&extra, Refused, Recorded::Fatal),
            (&leaving, Done, Recorded::Done),
            (&leaving, Unsealable, Recorded::Fatal),
            (&leaving, Refused, Recorded::Fatal),
            (&delete, Done, Recorded::Done),
            (&delete, Refused, Recorded::Fatal),
            (&endpoints, Done, Recorded::Done),
            (&endpoints, Refused, Recorded::Deferred),
            (&endpoints, Failed, Recorded::Fatal),
        ];
        for (call, outcome, expected) in cases {
            let mut p = Publications::new(NODE);
            assert_eq!(
                p.record(call, outcome, Instant::now()),
                expected,
                "{} answered {outcome:?}",
                show(call)
            );
        }
    }

    #[test]
    fn refreshed_next_due_own_gone_and_goodbye() {
        let start = Instant::now();
        let p = play(
            "setup",
            start,
            vec![at(
                0,
                Ask {
                    extras: extras(&[("x", 1)]).extras,
                    harvested: harvested(&[("p", 1)]).harvested,
                    ..announce(1)
                },
                &["publish a", "publish x", "endpoints p"],
            )],
        );
        assert!(p.refreshed());
        assert_eq!(p.next_due(), Some(start + REFRESH_INTERVAL));
        assert_eq!(
            p.goodbye(true).iter().map(show).collect::<Vec<_>>(),
            ["delete a", "delete x"]
        );
        assert_eq!(
            p.goodbye(false).iter().map(show).collect::<Vec<_>>(),
            ["delete x"]
        );

        // Gone from the service while announced: pushed again at once, not at the refresh.
        let mut p = Publications::new(NODE);
        assert!(!p.refreshed());
        assert_eq!(p.next_due(), None);
        let ask = announce(1);
        let wanted = Wanted {
            announcement: &ask.announcement,
            extras: &ask.extras,
            harvested: &ask.harvested,
        };
        for call in p.next(start, wanted) {
            p.record(&call, Outcome::Done, start);
        }
        assert!(p.next(start, wanted).is_empty());
        assert!(!p.own_gone(&Announcement::Withdraw), "not announced");
        assert!(p.own_gone(&ask.announcement));
        assert_eq!(
            p.next(start, wanted).iter().map(show).collect::<Vec<_>>(),
            ["publish a"]
        );
        assert!(
            !p.own_gone(&ask.announcement),
            "not pushed since: nothing to redo"
        );
    }
}
