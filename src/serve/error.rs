//! Every error the API answers, as one typed enum: the variant decides the status code,
//! its `Display` is the sentence sent as `detail`. A 4xx is what the client sent; a 5xx is
//! the server's own trouble (503: busy or too slow, try again; 500: a bug).

use axum::body::Bytes;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The JSON body of every error answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// Always `error`.
    pub status: String,
    /// The HTTP status code.
    pub code: u16,
    /// What was wrong, as a sentence.
    pub detail: String,
}

/// An error answer of the API.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ServeError {
    /// 400: the body is empty, not JSON, or not this route's shape (`route: …`).
    #[error("{route}: {why}")]
    Malformed { route: &'static str, why: String },
    /// 400: a well-formed request with a value the server refuses (out of range, …).
    #[error("{0}")]
    Invalid(String),
    /// 400: `/predict` before any run has produced a model.
    #[error("/predict: no model has been trained yet; POST /train first")]
    NoModel,
    /// 400: a run id that is not a number.
    #[error("run id {0:?} is not a number; run ids are 1, 2, 3, …")]
    BadRunId(String),
    /// 404: `dataset_name` names nothing the server serves.
    #[error("{0}")]
    UnknownDataset(String),
    /// 404: no run with this id.
    #[error("there is no run {0} on this server")]
    UnknownRun(u64),
    /// 404: no stored run with this id, prefix or name (`/update`).
    #[error("{0}")]
    UnknownStoredRun(String),
    /// 404: no such route.
    #[error(
        "there is no route {0}; the routes are POST /train, POST /predict, POST /update, GET /runs, GET /runs/{{id}}, POST /runs/{{id}}/stop, GET /openapi.json"
    )]
    NoRoute(String),
    /// 405: the route exists for another method.
    #[error("{path} does not answer {method}; see GET /openapi.json for each route's method")]
    WrongMethod { path: String, method: String },
    /// 408: the client did not send its whole body in time.
    #[error("the request body did not arrive within {secs} s; send the whole body at once")]
    BodyTimeout { secs: u64 },
    /// 409: another run holds the single run slot.
    #[error("run {0} is in progress; one run at a time: wait for it, or POST /runs/{0}/stop")]
    Busy(u64),
    /// 409: stopping a run that has already ended.
    #[error("run {id} has already ended ({status})")]
    AlreadyEnded { id: u64, status: String },
    /// 413: the body is larger than the server accepts.
    #[error(
        "the request body is larger than {limit} bytes, the most this server accepts; requests are small JSON objects"
    )]
    BodyTooLarge { limit: usize },
    /// 422: the dataset exists but could not be loaded.
    #[error("dataset {name:?} could not be loaded: {why}")]
    DatasetUnreadable { name: String, why: String },
    /// 422: an update refused its input (data, classes, settings, a checkpoint that does not fit).
    #[error("the update failed: {0}")]
    UpdateRefused(String),
    /// 422: the run itself failed on its data or settings (e.g. the loss diverged).
    #[error("the run failed: {0}")]
    RunFailed(String),
    /// 503: a step took longer than the server allows (`what` says which).
    #[error("{what} took longer than {secs} s; the server is busy or the request too heavy, try again")]
    Timeout { what: String, secs: u64 },
    /// 503: the trainer could not take a command now.
    #[error("{0}")]
    Unavailable(String),
    /// 500: the server's own fault (a bug, a lost thread).
    #[error("{0}")]
    Internal(String),
}

impl ServeError {
    /// The HTTP status of this error.
    pub fn status(&self) -> StatusCode {
        match self {
            ServeError::Malformed { .. } | ServeError::Invalid(_) | ServeError::NoModel | ServeError::BadRunId(_) => {
                StatusCode::BAD_REQUEST
            }
            ServeError::UnknownDataset(_)
            | ServeError::UnknownRun(_)
            | ServeError::UnknownStoredRun(_)
            | ServeError::NoRoute(_) => StatusCode::NOT_FOUND,
            ServeError::WrongMethod { .. } => StatusCode::METHOD_NOT_ALLOWED,
            ServeError::BodyTimeout { .. } => StatusCode::REQUEST_TIMEOUT,
            ServeError::Busy(_) | ServeError::AlreadyEnded { .. } => StatusCode::CONFLICT,
            ServeError::BodyTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ServeError::DatasetUnreadable { .. } | ServeError::RunFailed(_) | ServeError::UpdateRefused(_) => {
                StatusCode::UNPROCESSABLE_ENTITY
            }
            ServeError::Timeout { .. } | ServeError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            ServeError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The JSON body of this error.
    pub fn body(&self) -> ErrorBody {
        ErrorBody { status: "error".into(), code: self.status().as_u16(), detail: self.to_string() }
    }
}

impl IntoResponse for ServeError {
    fn into_response(self) -> Response {
        let status = self.status();
        let mut response = (status, axum::Json(self.body())).into_response();
        if matches!(status, StatusCode::REQUEST_TIMEOUT | StatusCode::PAYLOAD_TOO_LARGE) {
            // The rest of the body may still be on the wire: do not read it as the next request.
            response.headers_mut().insert(header::CONNECTION, header::HeaderValue::from_static("close"));
        }
        response
    }
}

/// A JSON answer (200), or a 500 when the value cannot be encoded.
pub(super) fn json_response<T: Serialize>(value: &T) -> Response {
    match serde_json::to_vec(value) {
        Ok(bytes) => ([(header::CONTENT_TYPE, "application/json")], bytes).into_response(),
        Err(e) => ServeError::Internal(format!("the answer could not be encoded as JSON: {e}")).into_response(),
    }
}

/// Parses a JSON body, turning every failure into a 400 that says what was wrong.
pub(super) fn parse_body<T: DeserializeOwned>(body: &Bytes, route: &'static str) -> Result<T, ServeError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ServeError::Malformed { route, why: "the request body is empty; send a JSON object".into() });
    }
    let mut de = serde_json::Deserializer::from_slice(body);
    let value: T = serde_path_to_error::deserialize(&mut de).map_err(|e| {
        let field = e.path().to_string();
        let inner = e.into_inner();
        let at = if field == "." || field.is_empty() { String::new() } else { format!("field `{field}`: ") };
        ServeError::Malformed { route, why: format!("the request body is not valid for this route: {at}{inner}") }
    })?;
    de.end()
        .map_err(|e| ServeError::Malformed { route, why: format!("unexpected text after the JSON object: {e}") })?;
    Ok(value)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_class_has_its_status() {
        let cases = [
            (ServeError::Malformed { route: "/train", why: "x".into() }, 400),
            (ServeError::Invalid("x".into()), 400),
            (ServeError::NoModel, 400),
            (ServeError::BadRunId("x".into()), 400),
            (ServeError::UnknownDataset("x".into()), 404),
            (ServeError::UnknownRun(3), 404),
            (ServeError::NoRoute("/x".into()), 404),
            (ServeError::WrongMethod { path: "/x".into(), method: "GET".into() }, 405),
            (ServeError::BodyTimeout { secs: 1 }, 408),
            (ServeError::Busy(1), 409),
            (ServeError::AlreadyEnded { id: 1, status: "finished".into() }, 409),
            (ServeError::BodyTooLarge { limit: 10 }, 413),
            (ServeError::DatasetUnreadable { name: "x".into(), why: "y".into() }, 422),
            (ServeError::RunFailed("x".into()), 422),
            (ServeError::UpdateRefused("x".into()), 422),
            (ServeError::UnknownStoredRun("x".into()), 404),
            (ServeError::Timeout { what: "x".into(), secs: 1 }, 503),
            (ServeError::Unavailable("x".into()), 503),
            (ServeError::Internal("x".into()), 500),
        ];
        for (e, code) in cases {
            assert_eq!(e.status().as_u16(), code, "{e:?}");
            let body = e.body();
            assert_eq!((body.status.as_str(), body.code), ("error", code));
            assert!(!body.detail.is_empty());
        }
    }

    #[test]
    fn parse_errors_name_the_route_and_field() {
        let e = parse_body::<crate::serve::TrainRequest>(&Bytes::from_static(b"{\"batch_size\": 1e30}"), "/train")
            .unwrap_err();
        assert_eq!(e.status(), StatusCode::BAD_REQUEST);
        assert!(e.to_string().starts_with("/train: ") && e.to_string().contains("batch_size"), "{e}");
        let e = parse_body::<crate::serve::TrainRequest>(&Bytes::from_static(b" \n"), "/train").unwrap_err();
        assert!(e.to_string().contains("empty"), "{e}");
    }
}
