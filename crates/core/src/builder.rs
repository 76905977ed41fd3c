//! Builder methods that only store their argument, declared once for the registration types.

/// `pub fn field(self, field: impl Into<String>) -> Self`: sets a text field and returns the
/// builder.
macro_rules! text_setters {
    ($($(#[$doc:meta])* $field:ident),+ $(,)?) => {
        $(
            $(#[$doc])*
            pub fn $field(mut self, $field: impl Into<String>) -> Self {
                self.$field = $field.into();
                self
            }
        )+
    };
}

/// `pub fn method(self, registration: Type) -> Self`: appends a registration to the list `list`
/// and returns the builder.
macro_rules! registration_adders {
    ($($method:ident($registration:ty) => $list:ident),+ $(,)?) => {
        $(
            pub fn $method(mut self, registration: $registration) -> Self {
                self.$list.push(registration);
                self
            }
        )+
    };
}
