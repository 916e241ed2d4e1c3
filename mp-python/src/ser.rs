//! serde serialization into a [`PyValue`] (see the mapping table in the
//! crate docs).

use serde::ser::{self, Serialize};

use crate::error::{Error, Result};
use crate::value::{BigInt, PyValue};

/// The newtype-struct name that [`crate::set`] wraps a sequence in, so this
/// serializer writes a Python `set` (other serializers see a plain seq).
pub(crate) const SET_TOKEN: &str = "\0mp_python::set";

/// Maps a serde value to a [`PyValue`].
pub fn to_value<T: Serialize + ?Sized>(value: &T) -> Result<PyValue> {
    value.serialize(ValueSerializer)
}

struct ValueSerializer;

fn variant_dict(variant: &str, value: PyValue) -> PyValue {
    PyValue::Dict(vec![(PyValue::str(variant), value)])
}

struct SeqBuilder {
    items: Vec<PyValue>,
    tuple: bool,
    variant: Option<&'static str>,
}

impl SeqBuilder {
    fn push<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.items.push(to_value(value)?);
        Ok(())
    }

    fn finish(self) -> PyValue {
        let value = if self.tuple {
            PyValue::Tuple(self.items)
        } else {
            PyValue::List(self.items)
        };
        match self.variant {
            Some(variant) => variant_dict(variant, value),
            None => value,
        }
    }
}

struct MapBuilder {
    pairs: Vec<(PyValue, PyValue)>,
    key: Option<PyValue>,
    variant: Option<&'static str>,
}

impl MapBuilder {
    fn finish(self) -> PyValue {
        let value = PyValue::Dict(self.pairs);
        match self.variant {
            Some(variant) => variant_dict(variant, value),
            None => value,
        }
    }

    fn field<T: Serialize + ?Sized>(&mut self, key: &'static str, value: &T) -> Result<()> {
        self.pairs.push((PyValue::str(key), to_value(value)?));
        Ok(())
    }
}

impl ser::Serializer for ValueSerializer {
    type Ok = PyValue;
    type Error = Error;
    type SerializeSeq = SeqBuilder;
    type SerializeTuple = SeqBuilder;
    type SerializeTupleStruct = SeqBuilder;
    type SerializeTupleVariant = SeqBuilder;
    type SerializeMap = MapBuilder;
    type SerializeStruct = MapBuilder;
    type SerializeStructVariant = MapBuilder;

    fn serialize_bool(self, v: bool) -> Result<PyValue> {
        Ok(PyValue::Bool(v))
    }
    fn serialize_i8(self, v: i8) -> Result<PyValue> {
        Ok(PyValue::Int(v.into()))
    }
    fn serialize_i16(self, v: i16) -> Result<PyValue> {
        Ok(PyValue::Int(v.into()))
    }
    fn serialize_i32(self, v: i32) -> Result<PyValue> {
        Ok(PyValue::Int(v.into()))
    }
    fn serialize_i64(self, v: i64) -> Result<PyValue> {
        Ok(PyValue::Int(v))
    }
    fn serialize_i128(self, v: i128) -> Result<PyValue> {
        Ok(PyValue::int(v))
    }
    fn serialize_u8(self, v: u8) -> Result<PyValue> {
        Ok(PyValue::Int(v.into()))
    }
    fn serialize_u16(self, v: u16) -> Result<PyValue> {
        Ok(PyValue::Int(v.into()))
    }
    fn serialize_u32(self, v: u32) -> Result<PyValue> {
        Ok(PyValue::Int(v.into()))
    }
    fn serialize_u64(self, v: u64) -> Result<PyValue> {
        Ok(PyValue::int(v.into()))
    }
    fn serialize_u128(self, v: u128) -> Result<PyValue> {
        Ok(match i64::try_from(v) {
            Ok(i) => PyValue::Int(i),
            Err(_) => PyValue::BigInt(BigInt::from_u128(v)),
        })
    }
    fn serialize_f32(self, v: f32) -> Result<PyValue> {
        Ok(PyValue::Float(v.into()))
    }
    fn serialize_f64(self, v: f64) -> Result<PyValue> {
        Ok(PyValue::Float(v))
    }
    fn serialize_char(self, v: char) -> Result<PyValue> {
        Ok(PyValue::Str(v.to_string()))
    }
    fn serialize_str(self, v: &str) -> Result<PyValue> {
        Ok(PyValue::str(v))
    }
    fn serialize_bytes(self, v: &[u8]) -> Result<PyValue> {
        Ok(PyValue::Bytes(v.to_vec()))
    }
    fn serialize_none(self) -> Result<PyValue> {
        Ok(PyValue::None)
    }
    fn serialize_some<T: Serialize + ?Sized>(self, value: &T) -> Result<PyValue> {
        to_value(value)
    }
    fn serialize_unit(self) -> Result<PyValue> {
        Ok(PyValue::None)
    }
    fn serialize_unit_struct(self, _name: &'static str) -> Result<PyValue> {
        Ok(PyValue::None)
    }
    fn serialize_unit_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
    ) -> Result<PyValue> {
        Ok(PyValue::str(variant))
    }
    fn serialize_newtype_struct<T: Serialize + ?Sized>(
        self,
        name: &'static str,
        value: &T,
    ) -> Result<PyValue> {
        let inner = to_value(value)?;
        if name != SET_TOKEN {
            return Ok(inner);
        }
        match inner {
            PyValue::List(items) | PyValue::Tuple(items) | PyValue::Set(items) => {
                Ok(PyValue::Set(items))
            }
            other => Err(ser::Error::custom(format!(
                "mp_python::set needs a sequence, got {}",
                other.type_name()
            ))),
        }
    }
    fn serialize_newtype_variant<T: Serialize + ?Sized>(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        value: &T,
    ) -> Result<PyValue> {
        Ok(variant_dict(variant, to_value(value)?))
    }
    fn serialize_seq(self, len: Option<usize>) -> Result<SeqBuilder> {
        let items = Vec::with_capacity(len.unwrap_or(0).min(4096));
        Ok(SeqBuilder {
            items,
            tuple: false,
            variant: None,
        })
    }
    fn serialize_tuple(self, len: usize) -> Result<SeqBuilder> {
        Ok(SeqBuilder {
            items: Vec::with_capacity(len.min(4096)),
            tuple: true,
            variant: None,
        })
    }
    fn serialize_tuple_struct(self, _name: &'static str, len: usize) -> Result<SeqBuilder> {
        self.serialize_tuple(len)
    }
    fn serialize_tuple_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        len: usize,
    ) -> Result<SeqBuilder> {
        Ok(SeqBuilder {
            items: Vec::with_capacity(len.min(4096)),
            tuple: true,
            variant: Some(variant),
        })
    }
    fn serialize_map(self, _len: Option<usize>) -> Result<MapBuilder> {
        Ok(MapBuilder {
            pairs: Vec::new(),
            key: None,
            variant: None,
        })
    }
    fn serialize_struct(self, _name: &'static str, _len: usize) -> Result<MapBuilder> {
        self.serialize_map(None)
    }
    fn serialize_struct_variant(
        self,
        _name: &'static str,
        _index: u32,
        variant: &'static str,
        _len: usize,
    ) -> Result<MapBuilder> {
        Ok(MapBuilder {
            pairs: Vec::new(),
            key: None,
            variant: Some(variant),
        })
    }
}

impl ser::SerializeSeq for SeqBuilder {
    type Ok = PyValue;
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.push(value)
    }
    fn end(self) -> Result<PyValue> {
        Ok(self.finish())
    }
}

impl ser::SerializeTuple for SeqBuilder {
    type Ok = PyValue;
    type Error = Error;
    fn serialize_element<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.push(value)
    }
    fn end(self) -> Result<PyValue> {
        Ok(self.finish())
    }
}

impl ser::SerializeTupleStruct for SeqBuilder {
    type Ok = PyValue;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.push(value)
    }
    fn end(self) -> Result<PyValue> {
        Ok(self.finish())
    }
}

impl ser::SerializeTupleVariant for SeqBuilder {
    type Ok = PyValue;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        self.push(value)
    }
    fn end(self) -> Result<PyValue> {
        Ok(self.finish())
    }
}

impl ser::SerializeMap for MapBuilder {
    type Ok = PyValue;
    type Error = Error;
    fn serialize_key<T: Serialize + ?Sized>(&mut self, key: &T) -> Result<()> {
        self.key = Some(to_value(key)?);
        Ok(())
    }
    fn serialize_value<T: Serialize + ?Sized>(&mut self, value: &T) -> Result<()> {
        let key = self
            .key
            .take()
            .ok_or_else(|| <Error as ser::Error>::custom("map value without a key"))?;
        self.pairs.push((key, to_value(value)?));
        Ok(())
    }
    fn end(self) -> Result<PyValue> {
        Ok(self.finish())
    }
}

impl ser::SerializeStruct for MapBuilder {
    type Ok = PyValue;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        self.field(key, value)
    }
    fn end(self) -> Result<PyValue> {
        Ok(self.finish())
    }
}

impl ser::SerializeStructVariant for MapBuilder {
    type Ok = PyValue;
    type Error = Error;
    fn serialize_field<T: Serialize + ?Sized>(
        &mut self,
        key: &'static str,
        value: &T,
    ) -> Result<()> {
        self.field(key, value)
    }
    fn end(self) -> Result<PyValue> {
        Ok(self.finish())
    }
}
