//! The user being evaluated (the Python SDK's `User` fields) and how selectors read it.

use std::collections::HashMap;

use serde::Deserialize;
use serde_json::{Map, Value};

/// Per group type, per group name: a value (`{groupType: {groupName: T}}`).
pub type ByGroup<T> = HashMap<String, HashMap<String, T>>;

/// A user, with the field names of the Python SDK's `User`. Unknown fields are rejected.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct User {
    /// `user_id`.
    pub user_id: Option<Value>,
    /// `device_id`.
    pub device_id: Option<Value>,
    /// `country`.
    pub country: Option<Value>,
    /// `city`.
    pub city: Option<Value>,
    /// `region`.
    pub region: Option<Value>,
    /// `dma`.
    pub dma: Option<Value>,
    /// `language`.
    pub language: Option<Value>,
    /// `platform`.
    pub platform: Option<Value>,
    /// `version`.
    pub version: Option<Value>,
    /// `os`.
    pub os: Option<Value>,
    /// `device_manufacturer`.
    pub device_manufacturer: Option<Value>,
    /// `device_brand`.
    pub device_brand: Option<Value>,
    /// `device_model`.
    pub device_model: Option<Value>,
    /// `carrier`.
    pub carrier: Option<Value>,
    /// `library`.
    pub library: Option<Value>,
    /// `ip_address`.
    pub ip_address: Option<Value>,
    /// Custom user properties.
    pub user_properties: Option<Map<String, Value>>,
    /// Groups: `{groupType: [groupName, …]}`; only the first name is used.
    pub groups: Option<HashMap<String, Vec<String>>>,
    /// Group properties: `{groupType: {groupName: {…}}}`.
    pub group_properties: Option<ByGroup<Map<String, Value>>>,
    /// Cohorts the user belongs to.
    pub cohort_ids: Option<Vec<String>>,
    /// Group cohorts: `{groupType: {groupName: [cohortId, …]}}`.
    pub group_cohort_ids: Option<ByGroup<Vec<String>>>,
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
    List(&'a [String]),
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

/// Walks `path` into a JSON object; null when a step is missing or not an object.
pub fn walk<'a>(object: Option<&'a Map<String, Value>>, path: &[String]) -> Prop<'a> {
    let Some((first, rest)) = path.split_first() else {
        return Prop::Null;
    };
    walk_value(object.and_then(|o| o.get(first)), rest)
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

impl User {
    /// The scalar field's value.
    pub fn field(&self, field: UserField) -> Prop<'_> {
        use UserField::*;
        Prop::from_json(
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
            .as_ref(),
        )
    }

    /// The first group name of `group_type`, when the user is in such a group.
    pub fn group_name(&self, group_type: &str) -> Option<&str> {
        self.groups
            .as_ref()?
            .get(group_type)?
            .first()
            .map(String::as_str)
    }

    /// Properties of the user's group of `group_type`.
    pub fn group_properties(&self, group_type: &str) -> Option<&Map<String, Value>> {
        let name = self.group_name(group_type)?;
        self.group_properties.as_ref()?.get(group_type)?.get(name)
    }

    /// Cohort ids of the user's group of `group_type`.
    pub fn group_cohort_ids(&self, group_type: &str) -> Option<&[String]> {
        let name = self.group_name(group_type)?;
        self.group_cohort_ids
            .as_ref()?
            .get(group_type)?
            .get(name)
            .map(Vec::as_slice)
    }
}
