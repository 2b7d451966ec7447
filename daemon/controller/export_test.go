package controller

// SetOnHold makes s call f each time a watch starts waiting, so tests know a request is held.
func SetOnHold(s *Server, f func()) { s.onHold = f }
