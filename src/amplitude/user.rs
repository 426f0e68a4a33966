//! The user being evaluated (the Python SDK's `User` fields) and how selectors read it.

use std::borrow::{Borrow, Cow};
use std::collections::BTreeMap;
use std::fmt;
use std::marker::PhantomData;
use std::ops::Deref;

use serde::de::value::{MapAccessDeserializer, SeqAccessDeserializer};
use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Serialize, Serializer};
use serde_json::Value;

/// Properties (`{name: value}`).
pub type Properties<'a> = BTreeMap<Text<'a>, UserValue<'a>>;

/// Per group type, per group name: a value (`{groupType: {groupName: T}}`).
pub type ByGroup<'a, T> = BTreeMap<Text<'a>, BTreeMap<Text<'a>, T>>;

/// A string of the user: borrowed from the request text when it holds no escapes, owned
/// otherwise (and when deserialized from a `serde_json::Value`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(transparent)]
pub struct Text<'a>(pub Cow<'a, str>);

impl Deref for Text<'_> {
    type Target = str;

    fn deref(&self) -> &str {
        &self.0
    }
}

impl Borrow<str> for Text<'_> {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl From<String> for Text<'_> {
    fn from(text: String) -> Self {
        Text(Cow::Owned(text))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor<'a>(PhantomData<Text<'a>>);

        impl<'de: 'a, 'a> Visitor<'de> for TextVisitor<'a> {
            type Value = Text<'a>;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a string")
            }

            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Borrowed(text)))
            }

            fn visit_str<E>(self, text: &str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(text.to_owned())))
            }

            fn visit_string<E>(self, text: String) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(text)))
            }
        }

        deserializer.deserialize_string(TextVisitor(PhantomData))
    }
}

/// A value of the user (a scalar field, a property): a string (a [`Text`]), or any other
/// JSON value.
#[derive(Debug, Clone, PartialEq)]
pub enum UserValue<'a> {
    /// A string.
    Text(Text<'a>),
    /// A value of another JSON type.
    Json(Value),
}

impl UserValue<'_> {
    /// The string, when the value is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            UserValue::Text(text) => Some(text),
            UserValue::Json(_) => None,
        }
    }

    /// Whether the value is JSON null.
    pub fn is_null(&self) -> bool {
        matches!(self, UserValue::Json(Value::Null))
    }

    /// The value as a selector reads it.
    pub fn prop(&self) -> Prop<'_> {
        match self {
            UserValue::Text(text) => Prop::Text(text),
            UserValue::Json(value) => Prop::from_json(Some(value)),
        }
    }

    /// The value as JSON.
    pub fn to_value(&self) -> Value {
        match self {
            UserValue::Text(text) => Value::String(text.to_string()),
            UserValue::Json(value) => value.clone(),
        }
    }
}

impl Serialize for UserValue<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            UserValue::Text(text) => serializer.serialize_str(text),
            UserValue::Json(value) => value.serialize(serializer),
        }
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for UserValue<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct UserValueVisitor<'a>(PhantomData<UserValue<'a>>);

        impl<'de: 'a, 'a> Visitor<'de> for UserValueVisitor<'a> {
            type Value = UserValue<'a>;

            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("any valid JSON value")
            }

            fn visit_borrowed_str<E>(self, text: &'de str) -> Result<UserValue<'a>, E> {
                Ok(UserValue::Text(Text(Cow::Borrowed(text))))
            }

            fn visit_str<E>(self, text: &str) -> Result<UserValue<'a>, E> {
                Ok(UserValue::Text(Text(Cow::Owned(text.to_owned()))))
            }

            fn visit_string<E>(self, text: String) -> Result<UserValue<'a>, E> {
                Ok(UserValue::Text(Text(Cow::Owned(text))))
            }

            fn visit_bool<E>(self, value: bool) -> Result<UserValue<'a>, E> {
                Ok(UserValue::Json(Value::Bool(value)))
            }

            fn visit_i64<E>(self, value: i64) -> Result<UserValue<'a>, E> {
                Ok(UserValue::Json(Value::from(value)))
            }

            fn visit_u64<E>(self, value: u64) -> Result<UserValue<'a>, E> {
                Ok(UserValue::Json(Value::from(value)))
            }

            fn visit_f64<E>(self, value: f64) -> Result<UserValue<'a>, E> {
                Ok(UserValue::Json(Value::from(value)))
            }

            fn visit_unit<E>(self) -> Result<UserValue<'a>, E> {
                Ok(UserValue::Json(Value::Null))
            }

            fn visit_none<E>(self) -> Result<UserValue<'a>, E> {
                Ok(UserValue::Json(Value::Null))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<UserValue<'a>, A::Error> {
                Value::deserialize(SeqAccessDeserializer::new(seq)).map(UserValue::Json)
            }

            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<UserValue<'a>, A::Error> {
                Value::deserialize(MapAccessDeserializer::new(map)).map(UserValue::Json)
            }
        }

        deserializer.deserialize_any(UserValueVisitor(PhantomData))
    }
}

/// A user, with the field names of the Python SDK's `User`. Unknown fields are rejected.
/// Its strings borrow from the request text where they can (see [`Text`]).
///
/// The fields are declared in the order of the Python SDK's `User` constructor: a
/// sequence (the marshalled tuple of `allot_evaluate_compact_marshal`) fills them in this
/// order, so it is part of the C API and never changes.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User<'a> {
    /// `device_id`.
    #[serde(borrow)]
    pub device_id: Option<UserValue<'a>>,
    /// `user_id`.
    #[serde(borrow)]
    pub user_id: Option<UserValue<'a>>,
    /// `country`.
    #[serde(borrow)]
    pub country: Option<UserValue<'a>>,
    /// `city`.
    #[serde(borrow)]
    pub city: Option<UserValue<'a>>,
    /// `region`.
    #[serde(borrow)]
    pub region: Option<UserValue<'a>>,
    /// `dma`.
    #[serde(borrow)]
    pub dma: Option<UserValue<'a>>,
    /// `language`.
    #[serde(borrow)]
    pub language: Option<UserValue<'a>>,
    /// `platform`.
    #[serde(borrow)]
    pub platform: Option<UserValue<'a>>,
    /// `version`.
    #[serde(borrow)]
    pub version: Option<UserValue<'a>>,
    /// `os`.
    #[serde(borrow)]
    pub os: Option<UserValue<'a>>,
    /// `device_manufacturer`.
    #[serde(borrow)]
    pub device_manufacturer: Option<UserValue<'a>>,
    /// `device_brand`.
    #[serde(borrow)]
    pub device_brand: Option<UserValue<'a>>,
    /// `device_model`.
    #[serde(borrow)]
    pub device_model: Option<UserValue<'a>>,
    /// `carrier`.
    #[serde(borrow)]
    pub carrier: Option<UserValue<'a>>,
    /// `library`.
    #[serde(borrow)]
    pub library: Option<UserValue<'a>>,
    /// `ip_address`.
    #[serde(borrow)]
    pub ip_address: Option<UserValue<'a>>,
    /// Custom user properties.
    #[serde(borrow)]
    pub user_properties: Option<Properties<'a>>,
    /// Groups: `{groupType: [groupName, …]}`; only the first name is used.
    #[serde(borrow)]
    pub groups: Option<BTreeMap<Text<'a>, Vec<Text<'a>>>>,
    /// Group properties: `{groupType: {groupName: {…}}}`.
    #[serde(borrow)]
    pub group_properties: Option<ByGroup<'a, Properties<'a>>>,
    /// Group cohorts: `{groupType: {groupName: [cohortId, …]}}`.
    #[serde(borrow)]
    pub group_cohort_ids: Option<ByGroup<'a, Vec<Text<'a>>>>,
    /// Cohorts the user belongs to.
    #[serde(borrow)]
    pub cohort_ids: Option<Vec<Text<'a>>>,
}

/// A scalar field of the user context (`["context", "user", <field>]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UserField {
    /// `user_id`
    UserId,
    /// `device_id`
    DeviceId,
    /// `country`
    Country,
    /// `city`
    City,
    /// `region`
    Region,
    /// `dma`
    Dma,
    /// `language`
    Language,
    /// `platform`
    Platform,
    /// `version`
    Version,
    /// `os`
    Os,
    /// `device_manufacturer`
    DeviceManufacturer,
    /// `device_brand`
    DeviceBrand,
    /// `device_model`
    DeviceModel,
    /// `carrier`
    Carrier,
    /// `library`
    Library,
    /// `ip_address`
    IpAddress,
}

impl UserField {
    /// The field named `name`, if it is a scalar user field.
    pub fn from_name(name: &str) -> Option<UserField> {
        use UserField::*;
        Some(match name {
            "user_id" => UserId,
            "device_id" => DeviceId,
            "country" => Country,
            "city" => City,
            "region" => Region,
            "dma" => Dma,
            "language" => Language,
            "platform" => Platform,
            "version" => Version,
            "os" => Os,
            "device_manufacturer" => DeviceManufacturer,
            "device_brand" => DeviceBrand,
            "device_model" => DeviceModel,
            "carrier" => Carrier,
            "library" => Library,
            "ip_address" => IpAddress,
            _ => return None,
        })
    }
}

/// A value read from the evaluation target by a selector.
#[derive(Debug, Clone, Copy)]
pub enum Prop<'a> {
    /// Missing or JSON null.
    Null,
    /// A JSON value (never null).
    Json(&'a Value),
    /// A string.
    Text(&'a str),
    /// A list of strings (cohort ids).
    List(&'a [Text<'a>]),
}

impl<'a> Prop<'a> {
    /// Wraps an optional JSON value, mapping absent and null to [`Prop::Null`].
    pub fn from_json(value: Option<&'a Value>) -> Prop<'a> {
        match value {
            None | Some(Value::Null) => Prop::Null,
            Some(Value::String(s)) => Prop::Text(s),
            Some(v) => Prop::Json(v),
        }
    }
}

/// Walks `path` into properties; null when a step is missing or not an object.
pub fn walk<'a>(properties: Option<&'a Properties<'_>>, path: &[String]) -> Prop<'a> {
    let Some((first, rest)) = path.split_first() else {
        return Prop::Null;
    };
    match properties.and_then(|p| p.get(first.as_str())) {
        Some(UserValue::Json(value)) => walk_value(Some(value), rest),
        Some(text) if rest.is_empty() => text.prop(),
        Some(UserValue::Text(_)) | None => Prop::Null,
    }
}

/// Walks `path` from a JSON value; null when a step is missing or not an object.
pub fn walk_value<'a>(mut current: Option<&'a Value>, path: &[String]) -> Prop<'a> {
    for step in path {
        current = match current {
            Some(Value::Object(o)) => o.get(step),
            _ => None,
        };
    }
    Prop::from_json(current)
}

impl<'a> User<'a> {
    /// The scalar field's value.
    pub fn field(&self, field: UserField) -> Prop<'_> {
        self.scalar(field).map_or(Prop::Null, UserValue::prop)
    }

    fn scalar(&self, field: UserField) -> Option<&UserValue<'a>> {
        use UserField::*;
        match field {
            UserId => &self.user_id,
            DeviceId => &self.device_id,
            Country => &self.country,
            City => &self.city,
            Region => &self.region,
            Dma => &self.dma,
            Language => &self.language,
            Platform => &self.platform,
            Version => &self.version,
            Os => &self.os,
            DeviceManufacturer => &self.device_manufacturer,
            DeviceBrand => &self.device_brand,
            DeviceModel => &self.device_model,
            Carrier => &self.carrier,
            Library => &self.library,
            IpAddress => &self.ip_address,
        }
        .as_ref()
    }

    /// The first group name of `group_type`, when the user is in such a group.
    pub fn group_name(&self, group_type: &str) -> Option<&str> {
        self.groups
            .as_ref()?
            .get(group_type)?
            .first()
            .map(|name| &**name)
    }

    /// Properties of the user's group of `group_type`.
    pub fn group_properties(&self, group_type: &str) -> Option<&Properties<'a>> {
        let name = self.group_name(group_type)?;
        self.group_properties.as_ref()?.get(group_type)?.get(name)
    }

    /// Cohort ids of the user's group of `group_type`.
    pub fn group_cohort_ids(&self, group_type: &str) -> Option<&[Text<'a>]> {
        let name = self.group_name(group_type)?;
        self.group_cohort_ids
            .as_ref()?
            .get(group_type)?
            .get(name)
            .map(Vec::as_slice)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const USER: &str = r#"{"user_id": "u\u00e9", "device_id": "d", "version": 3,
        "user_properties": {"a": "first", "n": {"k": [1, "b"]}, "a": "x\"y"},
        "groups": {"org": ["acme\n", "other"]},
        "group_properties": {"org": {"acme\n": {"tier": "gold"}}},
        "cohort_ids": ["c\t1", "c2"]}"#;

    fn text(prop: Prop<'_>) -> Option<&str> {
        match prop {
            Prop::Text(text) => Some(text),
            _ => None,
        }
    }

    fn path(steps: &[&str]) -> Vec<String> {
        steps.iter().map(|s| s.to_string()).collect()
    }

    /// Borrowed strings, escaped (owned) ones, and a user built from a `Value` read alike;
    /// of repeated property names the last one wins.
    #[test]
    fn users_read_alike_from_text_and_from_values() {
        let borrowed: User<'_> = serde_json::from_str(USER).unwrap();
        let value: Value = serde_json::from_str(USER).unwrap();
        let owned = User::deserialize(value).unwrap();
        assert!(matches!(
            &borrowed.device_id,
            Some(UserValue::Text(Text(Cow::Borrowed("d"))))
        ));
        for user in [&borrowed, &owned] {
            assert_eq!(text(user.field(UserField::UserId)), Some("u\u{e9}"));
            assert!(matches!(user.field(UserField::Version), Prop::Json(v) if *v == json!(3)));
            assert!(matches!(user.field(UserField::City), Prop::Null));
            let properties = user.user_properties.as_ref();
            assert_eq!(text(walk(properties, &path(&["a"]))), Some("x\"y"));
            assert!(matches!(walk(properties, &path(&["a", "b"])), Prop::Null));
            assert!(matches!(
                walk(properties, &path(&["n", "k"])),
                Prop::Json(v) if *v == json!([1, "b"])
            ));
            assert_eq!(user.group_name("org"), Some("acme\n"));
            let group = user.group_properties("org");
            assert_eq!(text(walk(group, &path(&["tier"]))), Some("gold"));
            let cohorts: Vec<&str> = user.cohort_ids.iter().flatten().map(|c| &**c).collect();
            assert_eq!(cohorts, ["c\t1", "c2"]);
            assert_eq!(
                user.user_id.as_ref().map(UserValue::to_value),
                Some(json!("u\u{e9}"))
            );
            assert_eq!(
                serde_json::to_value(&user.user_properties).unwrap(),
                json!({"a": "x\"y", "n": {"k": [1, "b"]}})
            );
        }
    }

    /// Types are checked as before: a cohort id must be a string, properties an object.
    #[test]
    fn wrong_types_are_refused() {
        for bad in [
            r#"{"cohort_ids": [1]}"#,
            r#"{"user_properties": []}"#,
            r#"{"groups": {"org": "acme"}}"#,
            r#"{"user_id": "a", "nickname": "b"}"#,
        ] {
            assert!(serde_json::from_str::<User<'_>>(bad).is_err(), "{bad}");
        }
    }
}
