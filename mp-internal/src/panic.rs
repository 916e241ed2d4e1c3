//! The message of a caught panic.

use std::any::Any;

/// The message of a panic payload (`panic!("...")` carries a `&str` or a
/// `String`; anything else, from `panic_any`, is named as such).
pub fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-string payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::panic_message;

    #[test]
    fn messages_of_every_payload_kind() {
        let of = |f: fn()| panic_message(&*std::panic::catch_unwind(f).unwrap_err());
        let quiet = std::panic::take_hook();
        std::panic::set_hook(Box::new(|_| {}));
        let literal = of(|| panic!("plain"));
        let formatted = of(|| panic!("{}", 7));
        let other = of(|| std::panic::panic_any(5u8));
        std::panic::set_hook(quiet);
        assert_eq!(literal, "plain");
        assert_eq!(formatted, "7");
        assert_eq!(other, "a panic with a non-string payload");
    }
}
