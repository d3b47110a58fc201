"""synthloop.flows"""
