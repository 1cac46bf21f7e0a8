// Asio and Beast are compiled once here (BOOST_ASIO_SEPARATE_COMPILATION), not in every
// translation unit that includes them.
#include <boost/asio/impl/src.hpp>
