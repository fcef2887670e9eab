//! The text of a caught panic, for the places that turn a panic into an error message: the app's
//! workers, the trainer thread, `serve`'s event thread and the v7.3 reader process.

use std::any::Any;

/// The text of a panic payload (`panic!` with a message gives a `String` or a `&str`).
pub fn message(payload: &(dyn Any + Send)) -> String {
    let text = payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("a panic without a message");
    text.trim().to_owned()
}
