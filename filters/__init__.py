"""synthloop.filters"""
