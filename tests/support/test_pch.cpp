// Owns the tests' precompiled header (support/test_pch.hpp; tests/CMakeLists.txt).
