// Beast is compiled once, here (BOOST_BEAST_SEPARATE_COMPILATION, set by moat::tls).
#include <boost/beast/src.hpp>
