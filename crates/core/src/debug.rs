//! `Debug` for types that hold closures, compiled schemas or credentials: only the listed fields
//! are printed, and the output ends in `..` so it never pretends to be the whole value.

/// Implements `Debug` as `Type { field: value, .., }` over the named fields, followed by the
/// views `name => |value: &Type| ...` for fields that print a part of themselves.
macro_rules! debug_listed_fields {
    ($ty:ident { $($field:ident),* $(,)? } $(, $name:ident => $view:expr)* $(,)?) => {
        impl ::std::fmt::Debug for $ty {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                f.debug_struct(stringify!($ty))
                    $(.field(stringify!($field), &self.$field))*
                    $(.field(stringify!($name), &($view)(self)))*
                    .finish_non_exhaustive()
            }
        }
    };
}
