package controller

import "net/http"

// SetOnHold makes s call f each time a watch starts waiting, so tests know a request is held.
func SetOnHold(s *Server, f func()) { s.onHold = f }

// SetOnAdmit makes s call f with each report or peers ask it admits past its load shedding.
func SetOnAdmit(s *Server, f func(*http.Request)) { s.onAdmit = f }

// SetOnQueue makes s call f each time a call beyond its limit starts waiting for a place.
func SetOnQueue(s *Server, f func()) { s.onQueue = f }
