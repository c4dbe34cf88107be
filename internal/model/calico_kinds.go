package model

// calicoKinds are the projectcalico.org/v3 kinds. Each type is declared in its own file.
func calicoKinds() []*Kind {
	return []*Kind{}
}
