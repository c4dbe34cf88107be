package testnet

import "net"

func netInterfaceByName(name string) (*net.Interface, error) { return net.InterfaceByName(name) }
