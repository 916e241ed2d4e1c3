//! Which globals a pickle may name: the protocol's own (always, they decode
//! to plain data) and an [`AllowList`] of classes kept as data shapes.

use std::collections::{HashMap, HashSet};

/// The globals the pickle protocols themselves use to spell plain data;
/// the decoder turns them straight into values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Special {
    /// `builtins.set` (protocol 2 sets: `set([items])`).
    Set,
    /// `builtins.frozenset`.
    FrozenSet,
    /// `builtins.list` (a manager's dict views: `list([items])`).
    List,
    /// `builtins.bytearray`.
    ByteArray,
    /// `builtins.bytes` (protocol 2 empty bytes: `bytes()`).
    Bytes,
    /// `_codecs.encode` (protocol 2 bytes: `encode(str, 'latin1')`).
    CodecsEncode,
    /// `copyreg._reconstructor` (protocol 0/1 objects).
    Reconstructor,
    /// `copyreg.__newobj__`.
    NewObj,
    /// `copyreg.__newobj_ex__`.
    NewObjEx,
    /// `builtins.object` (the base in `_reconstructor` arguments).
    Object,
}

pub(crate) fn special(module: &str, name: &str) -> Option<Special> {
    Some(match (module, name) {
        ("builtins", "set") => Special::Set,
        ("builtins", "frozenset") => Special::FrozenSet,
        ("builtins", "list") => Special::List,
        ("builtins", "bytearray") => Special::ByteArray,
        ("builtins", "bytes") => Special::Bytes,
        ("builtins", "object") => Special::Object,
        ("_codecs", "encode") => Special::CodecsEncode,
        ("copyreg", "_reconstructor") => Special::Reconstructor,
        ("copyreg", "__newobj__") => Special::NewObj,
        ("copyreg", "__newobj_ex__") => Special::NewObjEx,
        _ => return None,
    })
}

/// Python 2 module names that protocols 0-2 use for builtins (CPython maps
/// them back with `fix_imports`, and so does this decoder, for those
/// protocols only).
pub(crate) fn python3_module(module: &str) -> &str {
    match module {
        "__builtin__" | "exceptions" => "builtins",
        "copy_reg" => "copyreg",
        "Queue" => "queue",
        other => other,
    }
}

const BUILTIN_EXCEPTIONS: &[&str] = &[
    "ArithmeticError",
    "AssertionError",
    "AttributeError",
    "BaseException",
    "BlockingIOError",
    "BrokenPipeError",
    "BufferError",
    "ChildProcessError",
    "ConnectionAbortedError",
    "ConnectionError",
    "ConnectionRefusedError",
    "ConnectionResetError",
    "EOFError",
    "Exception",
    "FileExistsError",
    "FileNotFoundError",
    "FloatingPointError",
    "ImportError",
    "IndexError",
    "InterruptedError",
    "IsADirectoryError",
    "KeyError",
    "KeyboardInterrupt",
    "LookupError",
    "MemoryError",
    "ModuleNotFoundError",
    "NameError",
    "NotADirectoryError",
    "NotImplementedError",
    "OSError",
    "OverflowError",
    "PermissionError",
    "ProcessLookupError",
    "RecursionError",
    "ReferenceError",
    "RuntimeError",
    "StopAsyncIteration",
    "StopIteration",
    "SystemError",
    "TimeoutError",
    "TypeError",
    "UnboundLocalError",
    "UnicodeDecodeError",
    "UnicodeEncodeError",
    "UnicodeError",
    "UnicodeTranslateError",
    "ValueError",
    "ZeroDivisionError",
];

/// What `multiprocessing.managers` sends: tokens, proxies (which pickle as
/// `RebuildProxy(proxytype, token, serializer, kwds)`), and its error.
const MANAGER_GLOBALS: &[&str] = &[
    "Token",
    "RebuildProxy",
    "AutoProxy",
    "RemoteError",
    "Namespace",
    "BaseProxy",
    "BaseListProxy",
    "ListProxy",
    "DictProxy",
    "ValueProxy",
    "NamespaceProxy",
    "IteratorProxy",
    "AcquirerProxy",
    "ConditionProxy",
    "EventProxy",
    "BarrierProxy",
    "PoolProxy",
    "ArrayProxy",
];

const OTHER_GLOBALS: &[(&str, &str)] = &[
    // `queue.Empty` is defined in C and pickles under `_queue`.
    ("_queue", "Empty"),
    ("queue", "Empty"),
    ("queue", "Full"),
    ("threading", "BrokenBarrierError"),
    ("multiprocessing.context", "AuthenticationError"),
    ("multiprocessing.context", "BufferTooShort"),
    ("multiprocessing.context", "ProcessError"),
    ("multiprocessing.context", "TimeoutError"),
    // List proxies take slices: `l[1:3]` sends `slice(1, 3, None)`.
    ("builtins", "slice"),
];

/// The classes and functions a pickle may name besides the protocol's own
/// (`set`, `frozenset`, `list`, `bytearray`, `bytes`, `_codecs.encode`,
/// `copyreg._reconstructor` / `__newobj__` / `__newobj_ex__`, `object`,
/// which always decode to plain data).
///
/// An allowed class is never imported or called: its objects decode to a
/// [`PyObject`](crate::PyObject) (class name, arguments, state). Any other
/// global is an [`ErrorKind::ForbiddenGlobal`](crate::ErrorKind::ForbiddenGlobal)
/// naming it, both when decoding and when encoding.
#[derive(Clone, Debug)]
pub struct AllowList {
    /// module -> names in it.
    globals: HashMap<String, HashSet<String>>,
}

impl AllowList {
    /// Only the protocol's own globals: plain data and nothing else.
    pub fn data_only() -> AllowList {
        AllowList {
            globals: HashMap::new(),
        }
    }

    /// What crosses CPython's multiprocessing wire: the built-in exception
    /// classes, `queue.Empty` / `queue.Full`, `threading.BrokenBarrierError`,
    /// multiprocessing's own errors, `slice`, and the manager's `Token`,
    /// `RebuildProxy`, `AutoProxy`, proxy types, `Namespace` and
    /// `RemoteError`.
    pub fn standard() -> AllowList {
        let mut list = AllowList::data_only();
        for name in BUILTIN_EXCEPTIONS {
            list.allow("builtins", name);
        }
        for name in MANAGER_GLOBALS {
            list.allow("multiprocessing.managers", name);
        }
        for (module, name) in OTHER_GLOBALS {
            list.allow(module, name);
        }
        list
    }

    /// Allows one more class or function, by module and (qualified) name.
    /// Its objects still decode as data only.
    pub fn allow(&mut self, module: &str, name: &str) -> &mut AllowList {
        self.globals
            .entry(module.to_owned())
            .or_default()
            .insert(name.to_owned());
        self
    }

    /// Whether a pickle may name `module.name`.
    pub fn allows(&self, module: &str, name: &str) -> bool {
        special(module, name).is_some()
            || self
                .globals
                .get(module)
                .is_some_and(|names| names.contains(name))
    }
}

impl Default for AllowList {
    /// [`AllowList::standard`].
    fn default() -> AllowList {
        AllowList::standard()
    }
}
