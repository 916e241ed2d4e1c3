//! serde deserialization from a [`PyValue`] (see the mapping table in the
//! crate docs).

use serde::de::{
    self, DeserializeOwned, DeserializeSeed, EnumAccess, IntoDeserializer, MapAccess, SeqAccess,
    VariantAccess, Visitor,
};
use serde::forward_to_deserialize_any;

use crate::error::{Error, Result};
use crate::value::PyValue;

/// Maps a [`PyValue`] to a serde value.
pub fn from_value<T: DeserializeOwned>(value: PyValue) -> Result<T> {
    T::deserialize(ValueDeserializer(value))
}

struct ValueDeserializer(PyValue);

impl<'de> IntoDeserializer<'de, Error> for ValueDeserializer {
    type Deserializer = ValueDeserializer;
    fn into_deserializer(self) -> ValueDeserializer {
        self
    }
}

fn not_data(value: &PyValue) -> Error {
    de::Error::custom(format!(
        "a Python {} object has no serde form; decode it to a PyValue instead",
        value.type_name()
    ))
}

struct Items(std::vec::IntoIter<PyValue>);

impl<'de> SeqAccess<'de> for Items {
    type Error = Error;
    fn next_element_seed<T: DeserializeSeed<'de>>(&mut self, seed: T) -> Result<Option<T::Value>> {
        self.0
            .next()
            .map(|v| seed.deserialize(ValueDeserializer(v)))
            .transpose()
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.0.len())
    }
}

struct Pairs {
    pairs: std::vec::IntoIter<(PyValue, PyValue)>,
    value: Option<PyValue>,
}

impl<'de> MapAccess<'de> for Pairs {
    type Error = Error;
    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>> {
        match self.pairs.next() {
            Some((k, v)) => {
                self.value = Some(v);
                seed.deserialize(ValueDeserializer(k)).map(Some)
            }
            None => Ok(None),
        }
    }
    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value> {
        let value = self
            .value
            .take()
            .ok_or_else(|| <Error as de::Error>::custom("value without a key"))?;
        seed.deserialize(ValueDeserializer(value))
    }
    fn size_hint(&self) -> Option<usize> {
        Some(self.pairs.len())
    }
}

struct Variant {
    name: PyValue,
    value: PyValue,
}

impl<'de> EnumAccess<'de> for Variant {
    type Error = Error;
    type Variant = ValueDeserializer;
    fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self::Variant)> {
        Ok((
            seed.deserialize(ValueDeserializer(self.name))?,
            ValueDeserializer(self.value),
        ))
    }
}

impl<'de> VariantAccess<'de> for ValueDeserializer {
    type Error = Error;
    fn unit_variant(self) -> Result<()> {
        match self.0 {
            PyValue::None => Ok(()),
            other => Err(de::Error::custom(format!(
                "a unit variant carries None, not {}",
                other.type_name()
            ))),
        }
    }
    fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value> {
        seed.deserialize(self)
    }
    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value> {
        de::Deserializer::deserialize_any(self, visitor)
    }
    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        de::Deserializer::deserialize_any(self, visitor)
    }
}

impl<'de> de::Deserializer<'de> for ValueDeserializer {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.0 {
            PyValue::None => visitor.visit_unit(),
            PyValue::Bool(b) => visitor.visit_bool(b),
            PyValue::Int(i) => visitor.visit_i64(i),
            PyValue::BigInt(b) => match (b.to_u128(), b.to_i128()) {
                // serde's u64 visitor takes no u128, so send what fits as u64.
                (Some(u), _) => match u64::try_from(u) {
                    Ok(u) => visitor.visit_u64(u),
                    Err(_) => visitor.visit_u128(u),
                },
                (None, Some(i)) => visitor.visit_i128(i),
                _ => Err(de::Error::custom(
                    "a Python int beyond 128 bits has no serde form",
                )),
            },
            PyValue::Float(f) => visitor.visit_f64(f),
            PyValue::Str(s) => visitor.visit_string(s),
            PyValue::Bytes(b) | PyValue::ByteArray(b) => visitor.visit_byte_buf(b),
            PyValue::Tuple(items)
            | PyValue::List(items)
            | PyValue::Set(items)
            | PyValue::FrozenSet(items) => visitor.visit_seq(Items(items.into_iter())),
            PyValue::Dict(pairs) => visitor.visit_map(Pairs {
                pairs: pairs.into_iter(),
                value: None,
            }),
            other @ (PyValue::Global(_) | PyValue::Object(_) | PyValue::Pickled(_)) => {
                Err(not_data(&other))
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value> {
        match self.0 {
            PyValue::None => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value> {
        match self.0 {
            PyValue::Str(s) => visitor.visit_enum(s.into_deserializer()),
            PyValue::Dict(mut pairs) if pairs.len() == 1 => {
                let (name, value) = pairs.pop().expect("one pair");
                visitor.visit_enum(Variant { name, value })
            }
            other => Err(de::Error::custom(format!(
                "an enum is a str or a one-item dict, not {}",
                other.type_name()
            ))),
        }
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}
