//! An in-memory discovery service for tests: Sidero's semantics (snapshot then changes, data
//! replaced, endpoints merged, deletions announced), with knobs to fail, redirect and drop
//! watches, and records of every call. [`FakeDialer`] connects clients to it without sockets, so
//! tests run under paused time; [`FakeGrpc`] serves it over real gRPC.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_stream::wrappers::ReceiverStream;
use tonic::{Request, Response, Status};
use weft_api::discovery::{Cipher, open_affiliate, seal_affiliate};
use weft_api::proto::discovery::server::{
    self as pb, Affiliate, AffiliateDeleteRequest, AffiliateUpdateRequest, HelloRequest,
    HelloResponse, RedirectMessage, WatchRequest, WatchResponse,
};
use weft_api::resources::cluster::AffiliateSpec;

use super::endpoint::Target;
use super::transport::{Connection, Dialer, WatchStream};

#[derive(Debug, Default)]
struct Inner {
    affiliates: BTreeMap<(String, String), Affiliate>,
    watchers: Vec<(String, mpsc::Sender<Result<WatchResponse, Status>>)>,
    client_ip: Vec<u8>,
    redirect: Option<String>,
    fail_hellos: usize,
    hellos: Vec<(Instant, String)>,
    updates: Vec<AffiliateUpdateRequest>,
    deletes: Vec<AffiliateDeleteRequest>,
    /// Endpoint-only updates refused (InvalidArgument, as at the endpoint limit), and how many were.
    refuse_endpoint_updates: bool,
    refused: usize,
}

/// The fake service; clones share it.
#[derive(Debug, Clone)]
pub struct FakeService {
    inner: Arc<Mutex<Inner>>,
    changes: Arc<watch::Sender<u64>>,
}

impl FakeService {
    /// A service that reports `client_ip` to every Hello.
    pub fn new(client_ip: &str) -> FakeService {
        let ip: std::net::IpAddr = client_ip.parse().expect("ip");
        let bytes = match ip {
            std::net::IpAddr::V4(v4) => v4.octets().to_vec(),
            std::net::IpAddr::V6(v6) => v6.octets().to_vec(),
        };
        FakeService {
            inner: Arc::new(Mutex::new(Inner {
                client_ip: bytes,
                ..Inner::default()
            })),
            changes: Arc::new(watch::channel(0).0),
        }
    }

    /// Changes the service and wakes [`FakeService::wait_updates`].
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let out = f(&mut self.inner.lock().unwrap_or_else(PoisonError::into_inner));
        self.changes.send_modify(|n| *n += 1);
        out
    }

    /// Reads the service.
    fn read<T>(&self, f: impl FnOnce(&Inner) -> T) -> T {
        f(&self.inner.lock().unwrap_or_else(PoisonError::into_inner))
    }

    fn notify(inner: &mut Inner, cluster: &str, response: WatchResponse) {
        inner.watchers.retain(|(c, tx)| {
            if c != cluster {
                return !tx.is_closed();
            }
            // Sidero drops a subscriber whose buffer is full; a closed one is gone anyway.
            tx.try_send(Ok(response.clone())).is_ok()
        });
    }

    /// Stores `spec` sealed with `cipher`, as its node would publish it.
    pub fn put(&self, cluster: &str, id: &str, cipher: &Cipher, spec: &AffiliateSpec) {
        let sealed = seal_affiliate(cipher, spec).expect("seal");
        self.put_raw(cluster, id, sealed.data, sealed.endpoints);
    }

    /// Stores raw blobs.
    pub fn put_raw(&self, cluster: &str, id: &str, data: Vec<u8>, endpoints: Vec<Vec<u8>>) {
        self.update(AffiliateUpdateRequest {
            cluster_id: cluster.to_owned(),
            affiliate_id: id.to_owned(),
            owner_token: Vec::new(),
            affiliate_data: Some(data),
            affiliate_endpoints: endpoints,
            ttl: None,
        });
    }

    /// Deletes an affiliate and tells the watchers.
    pub fn delete(&self, cluster: &str, id: &str) {
        self.with(|inner| {
            inner
                .affiliates
                .remove(&(cluster.to_owned(), id.to_owned()));
            let gone = Affiliate {
                id: id.to_owned(),
                ..Affiliate::default()
            };
            Self::notify(
                inner,
                cluster,
                WatchResponse {
                    affiliates: vec![gone],
                    deleted: true,
                },
            );
        });
    }

    /// Forgets an affiliate without telling anyone (as after a restart without a snapshot).
    pub fn forget(&self, cluster: &str, id: &str) {
        self.with(|inner| {
            inner
                .affiliates
                .remove(&(cluster.to_owned(), id.to_owned()))
        });
    }

    /// Ends every open watch.
    pub fn break_watches(&self) {
        self.with(|inner| inner.watchers.clear());
    }

    /// Makes the next `n` Hellos fail with Unavailable.
    pub fn fail_hellos(&self, n: usize) {
        self.with(|inner| inner.fail_hellos = n);
    }

    /// Makes every Hello redirect to `endpoint`.
    pub fn redirect_to(&self, endpoint: &str) {
        self.with(|inner| inner.redirect = Some(endpoint.to_owned()));
    }

    /// Refuses (or accepts again) updates that carry no data, as a service at its endpoint limit.
    pub fn refuse_endpoint_updates(&self, refuse: bool) {
        self.with(|inner| inner.refuse_endpoint_updates = refuse);
    }

    /// How many updates were refused.
    pub fn refused(&self) -> usize {
        self.read(|inner| inner.refused)
    }

    /// The last AffiliateUpdate for `id`.
    pub fn last_update(&self, id: &str) -> Option<AffiliateUpdateRequest> {
        self.read(|inner| {
            inner
                .updates
                .iter()
                .rev()
                .find(|u| u.affiliate_id == id)
                .cloned()
        })
    }

    /// How many AffiliateUpdates `id` sent.
    pub fn updates_of(&self, id: &str) -> usize {
        self.read(|inner| {
            inner
                .updates
                .iter()
                .filter(|u| u.affiliate_id == id)
                .count()
        })
    }

    /// How many AffiliateDeletes `id` sent.
    pub fn deletes_of(&self, id: &str) -> usize {
        self.read(|inner| {
            inner
                .deletes
                .iter()
                .filter(|u| u.affiliate_id == id)
                .count()
        })
    }

    /// When each Hello came.
    pub fn hello_times(&self) -> Vec<Instant> {
        self.read(|inner| inner.hellos.iter().map(|(t, _)| *t).collect())
    }

    /// The client version of each Hello.
    pub fn hello_versions(&self) -> Vec<String> {
        self.read(|inner| inner.hellos.iter().map(|(_, v)| v.clone()).collect())
    }

    /// What the service holds for `id`, opened with `cipher`.
    pub fn stored(&self, cluster: &str, id: &str, cipher: &Cipher) -> Option<AffiliateSpec> {
        let stored = self.read(|inner| {
            inner
                .affiliates
                .get(&(cluster.to_owned(), id.to_owned()))
                .cloned()
        })?;
        open_affiliate(cipher, &stored)
            .expect("stored data opens")
            .map(|o| o.spec)
    }

    /// Waits until `id` has sent at least `n` updates.
    pub async fn wait_updates(&self, id: &str, n: usize) {
        let mut rx = self.changes.subscribe();
        while self.updates_of(id) < n {
            rx.changed().await.expect("service alive");
        }
    }

    fn hello(&self, request: HelloRequest) -> Result<HelloResponse, Status> {
        self.with(|inner| {
            inner.hellos.push((Instant::now(), request.client_version));
            if inner.fail_hellos > 0 {
                inner.fail_hellos -= 1;
                return Err(Status::unavailable("the service is restarting"));
            }
            Ok(HelloResponse {
                redirect: inner
                    .redirect
                    .clone()
                    .map(|endpoint| RedirectMessage { endpoint }),
                client_ip: inner.client_ip.clone(),
            })
        })
    }

    fn update(&self, request: AffiliateUpdateRequest) {
        self.with(|inner| {
            let key = (request.cluster_id.clone(), request.affiliate_id.clone());
            let entry = inner.affiliates.entry(key).or_insert_with(|| Affiliate {
                id: request.affiliate_id.clone(),
                ..Affiliate::default()
            });
            if let Some(data) = request.affiliate_data.clone().filter(|d| !d.is_empty()) {
                entry.data = data;
            }
            for ep in &request.affiliate_endpoints {
                if !entry.endpoints.contains(ep) {
                    entry.endpoints.push(ep.clone());
                }
            }
            let changed = entry.clone();
            let cluster = request.cluster_id.clone();
            inner.updates.push(request);
            Self::notify(
                inner,
                &cluster,
                WatchResponse {
                    affiliates: vec![changed],
                    deleted: false,
                },
            );
        });
    }

    fn delete_request(&self, request: AffiliateDeleteRequest) {
        let (cluster, id) = (request.cluster_id.clone(), request.affiliate_id.clone());
        self.with(|inner| inner.deletes.push(request));
        self.delete(&cluster, &id);
    }

    fn watch(&self, request: WatchRequest) -> WatchStream {
        let (tx, rx) = mpsc::channel(32);
        self.with(|inner| {
            let snapshot: Vec<Affiliate> = inner
                .affiliates
                .iter()
                .filter(|((c, _), _)| *c == request.cluster_id)
                .map(|(_, a)| a.clone())
                .collect();
            // The first message is the snapshot, even when empty.
            let _ = tx.try_send(Ok(WatchResponse {
                affiliates: snapshot,
                deleted: false,
            }));
            inner.watchers.push((request.cluster_id, tx));
        });
        Box::pin(ReceiverStream::new(rx))
    }
}

/// A connection to a [`FakeService`].
#[derive(Debug)]
pub struct FakeConn(FakeService);

impl Connection for FakeConn {
    async fn hello(&mut self, request: HelloRequest) -> Result<HelloResponse, Status> {
        self.0.hello(request)
    }
    async fn affiliate_update(&mut self, request: AffiliateUpdateRequest) -> Result<(), Status> {
        let refuse = request.affiliate_data.is_none()
            && self.0.with(|inner| {
                if inner.refuse_endpoint_updates {
                    inner.refused += 1;
                }
                inner.refuse_endpoint_updates
            });
        if refuse {
            return Err(Status::invalid_argument("too many endpoints"));
        }
        self.0.update(request);
        Ok(())
    }
    async fn affiliate_delete(&mut self, request: AffiliateDeleteRequest) -> Result<(), Status> {
        self.0.delete_request(request);
        Ok(())
    }
    async fn watch(&mut self, request: WatchRequest) -> Result<WatchStream, Status> {
        Ok(self.0.watch(request))
    }
}

/// Dials fake services by host name, recording every target.
#[derive(Debug)]
pub struct FakeDialer {
    services: BTreeMap<String, FakeService>,
    dialed: Mutex<Vec<Target>>,
}

impl FakeDialer {
    pub fn new<const N: usize>(services: [(&str, FakeService); N]) -> Arc<FakeDialer> {
        Arc::new(FakeDialer {
            services: services
                .into_iter()
                .map(|(h, s)| (h.to_owned(), s))
                .collect(),
            dialed: Mutex::new(Vec::new()),
        })
    }

    /// Every target dialed, in order.
    pub fn dialed(&self) -> Vec<Target> {
        self.dialed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }
}

impl Dialer for FakeDialer {
    type Conn = FakeConn;

    async fn dial(&self, target: &Target) -> anyhow::Result<FakeConn> {
        self.dialed
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push(target.clone());
        match self.services.get(&target.host) {
            Some(s) => Ok(FakeConn(s.clone())),
            None => anyhow::bail!("connection refused by {target}"),
        }
    }
}

/// The fake service over real gRPC.
#[derive(Debug, Clone)]
pub struct FakeGrpc(pub FakeService);

#[tonic::async_trait]
impl pb::cluster_server::Cluster for FakeGrpc {
    async fn hello(&self, r: Request<HelloRequest>) -> Result<Response<HelloResponse>, Status> {
        self.0.hello(r.into_inner()).map(Response::new)
    }
    async fn affiliate_update(
        &self,
        r: Request<AffiliateUpdateRequest>,
    ) -> Result<Response<pb::AffiliateUpdateResponse>, Status> {
        self.0.update(r.into_inner());
        Ok(Response::new(pb::AffiliateUpdateResponse {}))
    }
    async fn affiliate_delete(
        &self,
        r: Request<AffiliateDeleteRequest>,
    ) -> Result<Response<pb::AffiliateDeleteResponse>, Status> {
        self.0.delete_request(r.into_inner());
        Ok(Response::new(pb::AffiliateDeleteResponse {}))
    }
    async fn list(
        &self,
        r: Request<pb::ListRequest>,
    ) -> Result<Response<pb::ListResponse>, Status> {
        let cluster = r.into_inner().cluster_id;
        let affiliates = self.0.read(|inner| {
            inner
                .affiliates
                .iter()
                .filter(|((c, _), _)| *c == cluster)
                .map(|(_, a)| a.clone())
                .collect()
        });
        Ok(Response::new(pb::ListResponse { affiliates }))
    }
    type WatchStream = WatchStream;
    async fn watch(&self, r: Request<WatchRequest>) -> Result<Response<WatchStream>, Status> {
        Ok(Response::new(self.0.watch(r.into_inner())))
    }
}
