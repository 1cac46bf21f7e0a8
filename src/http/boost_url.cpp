// Boost.URL is header-only in Debian's Boost: its definitions are compiled once, here, and
// every user of moat::http links them from this library.
#include <boost/url/src.hpp>
