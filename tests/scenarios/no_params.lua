-- A scenario that declares no parameters: a -D given to it must be refused, not ignored.
log("no params here")
