// Boost.JSON is header-only in Debian's Boost: its definitions are compiled once, here, and
// every user of moat::http (the acme part) links them from this library.
#include <boost/json/src.hpp>
