//! `weft.resource.v1alpha1.ResourceService`: read and watch the state store. Sensitive types
//! (identities with private keys, configs with the cluster secret) need `os:admin`.

use std::pin::Pin;

use futures::Stream;
use tokio_util::sync::CancellationToken;
use tonic::{Request, Response, Status};
use weft_api::pki::Role;
use weft_api::proto::resource::{
    self as pb, DefinitionsRequest, DefinitionsResponse, GetRequest, GetResponse, ListRequest,
    ListResponse, WatchRequest, WatchResponse,
};
use weft_api::proto::{definition_to_proto, event_to_proto, resource_to_proto};
use weft_api::resource::{EventKind, Pointer, Resource, ResourceDefinition};

use super::auth;
use crate::runtime::state::{State, StateError};

/// Events buffered per watch stream between the store and the network.
const WATCH_STREAM_BUFFER: usize = 64;

/// The resource service.
#[derive(Debug)]
pub struct ResourceApi {
    state: State,
    /// Ends watch streams, which would otherwise hold the API's graceful shutdown open (weftd
    /// would wait out its grace and exit 1 while a `weftctl get -w` is attached).
    shutdown: CancellationToken,
}

impl ResourceApi {
    pub fn new(state: State, shutdown: CancellationToken) -> ResourceApi {
        ResourceApi { state, shutdown }
    }

    /// The definition of `resource_type`, if the caller may read it.
    fn authorize<T>(
        &self,
        request: &Request<T>,
        resource_type: &str,
    ) -> Result<ResourceDefinition, Status> {
        let role = auth::role(request)?;
        let definition = self.state.definition(resource_type).ok_or_else(|| {
            Status::not_found(format!("resource type {resource_type:?} is not registered"))
        })?;
        if definition.sensitive && role != Role::Admin {
            return Err(Status::permission_denied(format!(
                "{} is sensitive: reading it needs the os:admin role; this client has {role}",
                definition.resource_type
            )));
        }
        Ok(definition)
    }
}

fn namespace_or_default(namespace: &str, definition: &ResourceDefinition) -> String {
    if namespace.is_empty() {
        definition.default_namespace.clone()
    } else {
        namespace.to_owned()
    }
}

fn to_proto(resource: &Resource) -> Result<pb::Resource, Status> {
    resource_to_proto(resource)
        .map_err(|e| Status::internal(format!("encoding {}: {e}", resource.metadata.id)))
}

fn state_status(err: StateError) -> Status {
    match err {
        StateError::NotFound(_) | StateError::UnknownType(_) => Status::not_found(err.to_string()),
        StateError::WatchOverflow => Status::aborted(err.to_string()),
        other => Status::internal(other.to_string()),
    }
}

type WatchStream = Pin<Box<dyn Stream<Item = Result<WatchResponse, Status>> + Send>>;

#[tonic::async_trait]
impl pb::resource_service_server::ResourceService for ResourceApi {
    async fn get(&self, request: Request<GetRequest>) -> Result<Response<GetResponse>, Status> {
        let definition = self.authorize(&request, &request.get_ref().r#type)?;
        let req = request.into_inner();
        let pointer = Pointer {
            namespace: namespace_or_default(&req.namespace, &definition),
            resource_type: definition.resource_type.clone(),
            id: req.id,
        };
        let resource = self
            .state
            .get(&pointer)
            .ok_or_else(|| state_status(StateError::NotFound(pointer)))?;
        Ok(Response::new(GetResponse {
            resource: Some(to_proto(&resource)?),
        }))
    }

    async fn list(&self, request: Request<ListRequest>) -> Result<Response<ListResponse>, Status> {
        let definition = self.authorize(&request, &request.get_ref().r#type)?;
        let namespace = namespace_or_default(&request.get_ref().namespace, &definition);
        let resources = self
            .state
            .list(&namespace, &definition.resource_type)
            .iter()
            .map(to_proto)
            .collect::<Result<_, _>>()?;
        Ok(Response::new(ListResponse { resources }))
    }

    type WatchStream = WatchStream;

    async fn watch(&self, request: Request<WatchRequest>) -> Result<Response<WatchStream>, Status> {
        let definition = self.authorize(&request, &request.get_ref().r#type)?;
        let req = request.into_inner();
        let namespace = namespace_or_default(&req.namespace, &definition);
        let (bootstrap, mut watch) = match req.id {
            Some(id) => {
                let pointer = Pointer {
                    namespace,
                    resource_type: definition.resource_type.clone(),
                    id,
                };
                let (current, watch) = self.state.watch(&pointer).map_err(state_status)?;
                (current.into_iter().collect::<Vec<_>>(), watch)
            }
            None => self
                .state
                .watch_kind(&namespace, &definition.resource_type)
                .map_err(state_status)?,
        };
        let (tx, rx) = tokio::sync::mpsc::channel(WATCH_STREAM_BUFFER);
        let shutdown = self.shutdown.child_token();
        tokio::spawn(async move {
            let event = |kind: EventKind, r: &Resource| -> Result<WatchResponse, Status> {
                Ok(WatchResponse {
                    event: event_to_proto(kind) as i32,
                    resource: Some(to_proto(r)?),
                })
            };
            for r in &bootstrap {
                if tx.send(event(EventKind::Created, r)).await.is_err() {
                    return;
                }
            }
            let marker = WatchResponse {
                event: pb::EventType::Bootstrapped as i32,
                resource: None,
            };
            if tx.send(Ok(marker)).await.is_err() {
                return;
            }
            loop {
                tokio::select! {
                    // The client went away, or weftd is stopping: stop watching the store.
                    () = tx.closed() => return,
                    () = shutdown.cancelled() => return,
                    next = watch.next() => {
                        let item = match next {
                            None => return,
                            Some(Ok(e)) => event(e.kind, &e.resource),
                            Some(Err(err)) => Err(state_status(err)),
                        };
                        let stop = item.is_err();
                        if tx.send(item).await.is_err() || stop {
                            return;
                        }
                    }
                }
            }
        });
        Ok(Response::new(Box::pin(
            tokio_stream::wrappers::ReceiverStream::new(rx),
        )))
    }

    async fn definitions(
        &self,
        request: Request<DefinitionsRequest>,
    ) -> Result<Response<DefinitionsResponse>, Status> {
        auth::role(&request)?;
        Ok(Response::new(DefinitionsResponse {
            definitions: self
                .state
                .definitions()
                .iter()
                .map(definition_to_proto)
                .collect(),
        }))
    }
}
